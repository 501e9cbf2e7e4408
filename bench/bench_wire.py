"""On the wire, side by side: the agent, umqtt.simple (as shipped, and writing each packet once)
and azure-iot-device, against Debian's mosquitto (default configuration, mutual TLS) and the hub
emulator.

Per client and broker: QoS 1 messages/s (N messages of 60 bytes queued, first send to last
PUBACK), process start to connected, a wake cycle (start, connect, one message acked, clean
disconnect, exit), TCP payload bytes per message each way (TLS included, through a counting
proxy), and the process's peak RSS. The MicroPython clients also run against mosquitto with
`set_tcp_nodelay true` (throughput, connect and wake cycle). The agent's msgs/s twice: all
queued first, and streamed (send(); run(for_ms=0)), each compared with the one-write client on
the same broker. Prints one table and writes build/bench/results.json.
Knobs: BENCH_WIRE_MESSAGES (2000), BENCH_WIRE_CAP_S (15: a throughput run stops there).
"""

import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import wire_scripts
from bench.wire_mosquitto import (
    find_mosquitto,
    make_credentials,
    mosquitto_version,
    running_mosquitto,
)
from bench.wire_tools import CountingProxy, TimedProcess
from host_tools.board_flash import assemble_flash
from host_tools.certs import create_device_cert
from host_tools.hub.testing import running_hub
from host_tools.paths import BUILD_DIR, MICROPYTHON_BIN

MESSAGES = int(os.environ.get("BENCH_WIRE_MESSAGES", "2000"))
BYTES_MESSAGES = 200  # the run through the counting proxy
CAP_MS = int(float(os.environ.get("BENCH_WIRE_CAP_S", "15")) * 1000)
WAKES = 3  # wake cycles per client and broker; the median is reported
WINDOW = 8  # the one-write umqtt client keeps as many PUBLISHes in flight as the agent
RESULTS = BUILD_DIR / "bench" / "results.json"

THROUGHPUT, STREAMED = "QoS 1 throughput", "QoS 1 throughput, streamed"
AGENT, UMQTT, ONE_WRITE, SDK = "agent", "umqtt.simple", "umqtt.simple one-write", "azure-iot-device"
MICROPYTHON_CLIENTS = (AGENT, UMQTT, ONE_WRITE)
HUB, MOSQUITTO, MOSQUITTO_NODELAY = "hub emulator", "mosquitto", "mosquitto nodelay"


@dataclass
class Target:
    """A broker the clients dial: where it listens, which CA signs it, how devices are made."""

    name: str
    port: int
    trust: Path
    ca_dir: Path | None  # device certificates signed by this CA; None: self-signed + registered
    hub: object = None


@dataclass
class Row:
    metric: str
    client: str
    broker: str
    value: float
    unit: str

    @property
    def name(self) -> str:
        return f"{self.metric} | {self.client} | {self.broker}"


SHORT = {
    AGENT: "agent",
    UMQTT: "umqtt",
    ONE_WRITE: "umqtt1w",
    SDK: "sdk",
    HUB: "hub",
    MOSQUITTO: "mosq",
    MOSQUITTO_NODELAY: "mosqnd",
}


def make_identity(root: Path, target: Target, client: str):
    """(device id, DeviceFiles): CA-signed for mosquitto, self-signed and registered for the hub."""
    device_id = f"wire-{SHORT[client]}-{SHORT[target.name]}"
    folder = root / "ids" / device_id
    if target.ca_dir is not None:
        identity = create_device_cert(device_id, folder, ca_dir=target.ca_dir)
    else:
        identity = create_device_cert(device_id, folder, self_signed=True)
        target.hub.register_x509(device_id, identity.sha256)
    return device_id, identity


def _micropython_run(flash: Path, client: str, ident, target, mode, count, port) -> TimedProcess:
    device_id, identity = ident
    certs = flash / "certs"
    certs.mkdir(exist_ok=True)
    shutil.copyfile(target.trust, certs / "trust.pem")
    shutil.copyfile(identity.cert_der, certs / "device.crt.der")
    shutil.copyfile(identity.key_der, certs / "device.key.der")
    shutil.rmtree(flash / "outbox", ignore_errors=True)
    # The host's file system stands in for flash: write back what earlier runs left (the agent's
    # 250 segment files a run) so this run's queueing pays for its own writes only. Without it the
    # same 2,000 appends took 25 ms after a sync and 35-65 ms a few runs later.
    os.sync()
    names = {
        "HOST": "localhost",
        "PORT": port,
        "DEVICE_ID": device_id,
        "USER": f"localhost/{device_id}/?api-version=2021-04-12",
        "TOPIC": f"devices/{device_id}/messages/events/".encode(),
        "CERT": "certs/device.crt.der",
        "KEY": "certs/device.key.der",
        "TRUST": "certs/trust.pem",
    }
    if client == AGENT:
        config = {
            "hub_host": "localhost",
            "hub_port": port,
            "device_id": device_id,
            "cert_file": "certs/device.crt.der",
            "key_file": "certs/device.key.der",
            "trust_file": "certs/trust.pem",
            "wifi_ssid": "bench-lan",
            "telemetry_interval_s": 3600,
            "retry_min_s": 0.2,
            "retry_max_s": 1,
            "watchdog_s": 0,
            "outbox_max": max(5000, count + 100),
        }
        (flash / "config.json").write_text(json.dumps(config))
        main = wire_scripts.agent_main(mode, count, CAP_MS)
    else:
        window = WINDOW if client == ONE_WRITE else 0
        main = wire_scripts.umqtt_main(mode, count, CAP_MS, window, **names)
    (flash / "main.py").write_text(main)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["MICROPYPATH"] = f"{flash}:{flash / 'lib'}"
    return TimedProcess([str(MICROPYTHON_BIN), "main.py"], flash, env)


def _sdk_run(root: Path, ident, target: Target, mode: str, count: int, port: int) -> TimedProcess:
    device_id, identity = ident
    names = {
        "HOST": "localhost",
        "PORT": port,
        "DEVICE_ID": device_id,
        "CERT": str(identity.cert_pem),
        "KEY": str(identity.key_pem),
        "TRUST": str(target.trust),
    }
    script = root / f"sdk-{mode}-{count}.py"
    script.write_text(wire_scripts.sdk_script(mode, count, CAP_MS, **names))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return TimedProcess([sys.executable, "-u", str(script)], root, env)


class Measurer:
    def __init__(self, root: Path):
        self.root = root
        self.flashes: dict[str, Path] = {}
        self.identities: dict[tuple, tuple] = {}
        self.rows: list[Row] = []

    def _start(self, client, target, mode, count, port=None) -> TimedProcess:
        port = port or target.port
        key = (client, target.name)
        if key not in self.identities:
            self.identities[key] = make_identity(self.root, target, client)
        ident = self.identities[key]
        if client == SDK:
            return _sdk_run(self.root, ident, target, mode, count, port)
        if client not in self.flashes:
            folder = self.root / f"flash-{len(self.flashes)}"
            self.flashes[client] = assemble_flash(folder, mpy=True)
            (folder / "ussl.py").write_text(wire_scripts.USSL)
        flash = self.flashes[client]
        return _micropython_run(flash, client, ident, target, mode, count, port)

    def add(self, metric, client, broker, value, unit):
        self.rows.append(Row(metric, client, broker, value, unit))

    def throughput(self, client, target, broker_name=None, mode="throughput"):
        # mode "stream" (the agent): send(); run(for_ms=0) per message, as an application that
        # produces messages while online does; "throughput": all sends first, so all but the
        # first few are queued on flash (a burst while RAM is full), then delivered.
        broker = broker_name or target.name
        with self._start(client, target, mode, MESSAGES) as run:
            run.wait_for("bench: mark", 60)
            _, line = run.wait_for("bench: done", CAP_MS / 1000 + 60)
            run.wait_exit(30)
        acked, ms = (int(x) for x in line.split()[2:4])
        note = "" if acked == MESSAGES else f" (only {acked} of {MESSAGES} in {CAP_MS // 1000} s)"
        metric = STREAMED if mode == "stream" else THROUGHPUT
        self.add(metric, client, broker, acked / max(ms, 1) * 1000, "msgs/s")
        if broker_name is None and mode == "throughput":
            self.add("peak RSS", client, broker, run.peak_rss_kb, "KB")
        how = " (streamed)" if mode == "stream" else ""
        print(f"   {client}{how} -> {broker}: {acked} msgs in {ms} ms{note}", flush=True)

    def wire_bytes(self, client, target):
        with CountingProxy(target.port) as proxy:
            with self._start(client, target, "throughput", BYTES_MESSAGES, proxy.port) as run:
                run.wait_for("bench: mark", 60)
                up0, down0 = proxy.counts()
                _, line = run.wait_for("bench: done", 60)
                up1, down1 = proxy.counts()
                run.wait_exit(30)
        acked = int(line.split()[2])
        self.add("wire bytes/msg up", client, target.name, (up1 - up0) / acked, "B")
        self.add("wire bytes/msg down", client, target.name, (down1 - down0) / acked, "B")

    def wake(self, client, target):
        connected, cycles = [], []
        prefix = "agent: connected" if client == AGENT else "bench: connected"
        for _ in range(WAKES):
            with self._start(client, target, "wake", 1) as run:
                connected.append(run.wait_for(prefix, 60)[0] * 1000)
                run.wait_for("bench: wake 1", 60)
                run.wait_exit(30)
                cycles.append(run.elapsed * 1000)
        self.add("start to connected", client, target.name, statistics.median(connected), "ms")
        self.add("wake cycle", client, target.name, statistics.median(cycles), "ms")

    def everything(self, client, target):
        try:
            self.throughput(client, target)
            if client == AGENT:
                self.throughput(client, target, mode="stream")
            self.wake(client, target)
            self.wire_bytes(client, target)
        except (AssertionError, TimeoutError) as exc:
            first = str(exc).splitlines()
            print(f"   {client} -> {target.name}: FAILED: {first[0] if first else exc}")
            print("      " + "\n      ".join(first[-8:]), flush=True)


def _reference(row: Row, rows: dict) -> str | None:
    """The agent's msgs/s: vs the one-write client on the same broker; its other rows: vs the
    agent on the hub (mosquitto) or on mosquitto (nodelay); other clients: vs the agent on the
    same broker."""
    if row.client == AGENT and row.metric in (THROUGHPUT, STREAMED):
        # the target: within 2x of the one-write client on the same broker and runtime
        name = f"{THROUGHPUT} | {ONE_WRITE} | {row.broker}"
    elif row.client == AGENT:
        other = {MOSQUITTO: HUB, MOSQUITTO_NODELAY: MOSQUITTO}.get(row.broker)
        name = other and f"{row.metric} | {AGENT} | {other}"
    else:
        name = f"{row.metric} | {AGENT} | {row.broker}"
    return name if name in rows else None


def results_table(rows: list[Row]) -> list[dict]:
    by_name = {row.name: row for row in rows}
    out = []
    for row in rows:
        ref = _reference(row, by_name)
        ratio = row.value / by_name[ref].value if ref and by_name[ref].value else None
        value = round(row.value, 1)
        out.append(
            {
                "name": row.name,
                "value": value,
                "unit": row.unit,
                "compared_with": ref,
                "ratio": None if ratio is None else round(ratio, 2),
            }
        )
    return out


def print_table(results: list[dict]) -> None:
    width = max(len(r["name"]) for r in results)
    print(f"   {'metric | client | broker':<{width}}  {'value':>9} unit    ratio  compared with")
    for r in results:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        ref = r["compared_with"] or ""
        ref = ref.replace(f"{r['name'].split(' | ')[0]} | ", "")  # the metric is the same
        print(f"   {r['name']:<{width}}  {r['value']:>9.1f} {r['unit']:<7} {ratio:>6}  {ref}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # mosquitto drops root privileges before reading its certificates
        measurer = Measurer(root)
        binary, how = find_mosquitto()
        # umqtt.simple as shipped sends an empty password with the user name: the hub warns on
        # every connect; said once here instead
        print("   note: umqtt.simple sends an empty password (X.509 needs none)", flush=True)
        logging.getLogger("host_tools.hub").setLevel(logging.ERROR)
        with running_hub(root / "hub") as hub:
            target = Target(HUB, hub.port, hub.ca_file, None, hub)
            for client in (*MICROPYTHON_CLIENTS, SDK):
                measurer.everything(client, target)
        if binary is None:
            print(f"   SKIP mosquitto column: {how}", flush=True)
        else:
            print(f"   {mosquitto_version(binary)} ({how})", flush=True)
            creds = make_credentials(root / "pki")
            with running_mosquitto(binary, root, creds) as broker:
                target = Target(MOSQUITTO, broker.port, creds.ca_pem, creds.ca_dir)
                for client in MICROPYTHON_CLIENTS:
                    measurer.everything(client, target)
            with running_mosquitto(binary, root, creds, nodelay=True) as broker:
                target = Target(MOSQUITTO_NODELAY, broker.port, creds.ca_pem, creds.ca_dir)
                for client in MICROPYTHON_CLIENTS:
                    try:  # RSS and bytes on the wire are the default broker's
                        measurer.throughput(client, target, MOSQUITTO_NODELAY)
                        if client == AGENT:
                            measurer.throughput(client, target, MOSQUITTO_NODELAY, "stream")
                        measurer.wake(client, target)
                    except (AssertionError, TimeoutError) as exc:
                        print(f"   {client} -> {MOSQUITTO_NODELAY}: FAILED: {exc}", flush=True)
        results = results_table(measurer.rows)
        print_table(results)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"   written: {RESULTS.relative_to(BUILD_DIR.parent)}", flush=True)


if __name__ == "__main__":
    main()
