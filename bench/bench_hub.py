"""Hub emulator load: N concurrent mutual-TLS devices, each publishing 1 message/s (QoS 1).

The hub runs as `python -m host_tools hub serve` in its own process; the devices are asyncio
tasks in this process (CPython `ssl`), so the 2 cores are split between the two sides. Reports
publish->PUBACK latency p50/p99 at 100, 500 and 1000 devices. All traffic is on loopback.
Every device presents the same self-signed certificate (minting 1000 keys would only measure
the credentials toolkit); each is registered under its own id with that thumbprint.
"""

import asyncio
import json
import os
import random
import resource
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools import certs
from host_tools.hub import mqtt
from host_tools.hub.registry import AUTH_SELF_SIGNED, Registry

LEVELS = (100, 500, 1000)
MEASURE_S = float(os.environ.get("BENCH_HUB_SECONDS", "10"))
CONNECT_CONCURRENCY = 50  # handshakes in flight at once while ramping up


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


class BenchDevice:
    def __init__(self, device_id: str, host: str, port: int, context, latencies: list):
        self.device_id = device_id
        self.host, self.port, self.context = host, port, context
        self.latencies = latencies
        self.sent: dict = {}
        self.measuring = False
        self.errors = 0

    async def connect(self, host_name: str) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, ssl=self.context, server_hostname=host_name
        )
        user = f"{host_name}/{self.device_id}/?api-version=2021-04-12"
        self.writer.write(
            mqtt.encode_connect(mqtt.Connect(self.device_id, user_name=user, keep_alive=60))
        )
        self.parser = mqtt.PacketReader()
        while True:
            data = await self.reader.read(4096)
            if not data:
                raise ConnectionError(f"{self.device_id}: hub closed before CONNACK")
            packets = self.parser.feed(data)
            if packets:
                if packets[0].return_code != 0:
                    raise ConnectionError(f"{self.device_id}: CONNACK {packets[0].return_code}")
                return

    async def run(self) -> None:
        asyncio.create_task(self._read())
        await asyncio.sleep(random.random())  # spread the devices over the second
        topic = f"devices/{self.device_id}/messages/events/%24.ct=application%2Fjson"
        packet_id = 0
        next_at = time.monotonic()
        while True:
            packet_id = packet_id % 65535 + 1
            body = json.dumps({"n": packet_id, "t": 21.5}).encode()
            self.sent[packet_id] = time.perf_counter()
            self.writer.write(
                mqtt.encode_publish(mqtt.Publish(topic, body, 1, packet_id=packet_id))
            )
            next_at += 1.0
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _read(self) -> None:
        while True:
            data = await self.reader.read(4096)
            if not data:
                self.errors += 1
                return
            now = time.perf_counter()
            for packet in self.parser.feed(data):
                if getattr(packet, "kind", None) == mqtt.PUBACK:
                    sent = self.sent.pop(packet.packet_id, None)
                    if sent is not None and self.measuring:
                        self.latencies.append(now - sent)


def _percentile(values: list, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _prepare(data_dir: Path, count: int):
    device = certs.create_device_cert("bench-device", data_dir / "device", self_signed=True)
    registry = Registry(data_dir)
    registry.save = lambda: None  # one write at the end instead of one per device
    for index in range(count):
        registry.add_device(f"bench-{index:04d}", AUTH_SELF_SIGNED, device.sha256)
    Registry.save(registry)
    return device


def _start_hub(data_dir: Path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "host_tools",
            "hub",
            "serve",
            "--data",
            str(data_dir),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if not line.startswith("hub ready"):
        process.kill()
        raise RuntimeError(f"hub did not start: {line!r}")
    return process, json.loads((data_dir / "hub.json").read_text())


async def _bench(data_dir: Path, device_files, info: dict) -> list:
    context = ssl.create_default_context(cafile=info["ca_file"])
    context.load_cert_chain(str(device_files.cert_pem), str(device_files.key_pem))
    devices: list = []
    tasks: list = []
    results = []
    latencies: list = []
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def connect(device):
        async with gate:
            await device.connect(info["host_name"])

    for level in LEVELS:
        started = time.perf_counter()
        new = [
            BenchDevice(f"bench-{i:04d}", "127.0.0.1", info["port"], context, latencies)
            for i in range(len(devices), level)
        ]
        outcomes = await asyncio.gather(*(connect(d) for d in new), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        connected = [d for d, o in zip(new, outcomes, strict=True) if o is None]
        ramp_s = time.perf_counter() - started
        devices += connected
        tasks += [asyncio.create_task(d.run()) for d in connected]
        await asyncio.sleep(2.0)  # let the new devices settle into their rhythm
        latencies.clear()
        for device in devices:
            device.measuring = True
        await asyncio.sleep(MEASURE_S)
        for device in devices:
            device.measuring = False
        samples = list(latencies)
        dropped = sum(d.errors for d in devices)
        results.append(
            {
                "devices": len(devices),
                "connect_failures": len(failures),
                "ramp_s": ramp_s,
                "messages": len(samples),
                "rate": len(samples) / MEASURE_S,
                "p50_ms": _percentile(samples, 0.5) * 1000 if samples else float("nan"),
                "p99_ms": _percentile(samples, 0.99) * 1000 if samples else float("nan"),
                "dropped": dropped,
            }
        )
        r = results[-1]
        print(
            f"   {r['devices']:5d} devices: p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms"
            f"  {r['rate']:7.1f} msg/s  (ramp {ramp_s:.1f} s, connect failures "
            f"{len(failures)}, connections lost {dropped})",
            flush=True,
        )
        if failures:
            print(f"   first connect failure: {failures[0]!r}", flush=True)
            break
    for task in tasks:
        task.cancel()
    for device in devices:
        device.writer.close()
    return results


def main() -> list:
    """Run the levels and print one line each; returns the figures (for callers)."""
    _raise_fd_limit(max(LEVELS) * 2 + 256)
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as folder:
        data_dir = Path(folder)
        device_files = _prepare(data_dir, max(LEVELS))
        process, info = _start_hub(data_dir)
        try:
            print(
                f"   hub pid {process.pid}; {MEASURE_S:.0f} s per level, 1 msg/s/device, QoS 1, "
                "mutual TLS on loopback",
                flush=True,
            )
            return asyncio.run(_bench(data_dir, device_files, info))
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
