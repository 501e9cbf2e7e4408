"""The agent's RAM and speed on both runtimes, against the hub emulator over mutual TLS.

Prints: the smallest Unix-port heap (-X heapsize, bisected, on the 32-bit and the 64-bit build)
that completes a full session (connect, 100 messages, twin get + patch, one method, one C2D),
and on the 32-bit build the same with a dps section (provisioning first);
heap in use (gc.mem_alloc after gc.collect) after warm-up and after 10,000 messages; messages/s
on each runtime.
"""

import tempfile
import time
from pathlib import Path

from host_tools.board_flash import assemble_flash
from host_tools.certs import create_device_cert
from host_tools.emulated_board import run_emulated_board
from host_tools.hub.testing import running_hub
from host_tools.paths import MICROPYTHON32_BIN, MICROPYTHON_BIN
from host_tools.unix_port import run_unix_port

MESSAGES = 10_000
HEADER = """
import gc, time
from agent import Agent
agent = Agent.from_config()
"""

SESSION = (
    HEADER
    + """
agent.on_method("ping", lambda payload: {"pong": payload})
agent.on_c2d(lambda body, properties: print("bench: c2d", body.decode()))
agent.report({"bench": 1})
for i in range(100):
    agent.send({"n": i})
    agent.run(for_ms=5)
agent.run(until=lambda: agent.stats["acked"] >= 100)
print("bench: acked")
agent.run()
"""
)

THROUGHPUT = (
    HEADER
    + f"N = {MESSAGES}\n"
    + """
def settle(n):
    agent.run(until=lambda: agent.stats["acked"] >= n)
for i in range(20):
    agent.send({"n": i})
settle(20)
gc.collect()
print("bench: warm", gc.mem_alloc())
t0 = time.ticks_ms()
sent = 0
while sent < N:
    if agent.stats["queued"] - agent.stats["acked"] < 200:
        agent.send({"n": sent})
        sent += 1
    else:
        agent.run(for_ms=2)
settle(20 + N)
ms = time.ticks_diff(time.ticks_ms(), t0)
gc.collect()
print("bench: done", gc.mem_alloc(), ms)
"""
)


def _device(root: Path, hub, device_id: str, main_py: str, mpy: bool, dps=False) -> Path:
    # dps: the board knows only DPS (a dps section, no hub): enrolled by its thumbprint, it
    # provisions first (the emulator's DPS, on the hub's host name), then runs the session.
    identity = create_device_cert(device_id, root / f"id-{device_id}", self_signed=True)
    where = {"hub_host": "localhost", "device_id": device_id}
    if dps:
        hub.dps.enroll_x509(device_id, certificate=identity.cert_pem)
        where = {
            "dps": {
                "id_scope": hub.dps.id_scope,
                "registration_id": device_id,
                "endpoint": "localhost",
                "port": hub.dps.port,
            }
        }
    else:
        hub.register_x509(device_id, identity.sha256)
    config = {
        **where,
        "hub_port": hub.port,
        "cert_file": "certs/device.crt.der",
        "key_file": "certs/device.key.der",
        "trust_file": "certs/trust.pem",
        "wifi_ssid": "bench-lan",
        "telemetry_interval_s": 3600,
        "retry_min_s": 0.2,
        "retry_max_s": 1,
        "watchdog_s": 0,
        "outbox_max": 5000,
    }
    files = {
        "config.json": config,
        "certs/trust.pem": hub.ca_file.read_bytes(),
        "certs/device.crt.der": identity.cert_der.read_bytes(),
        "certs/device.key.der": identity.key_der.read_bytes(),
    }
    return assemble_flash(root / f"flash-{device_id}", files, mpy=mpy, main_py=main_py)


def _session_works(root, hub, heap_k: int, micropython=None, dps=False) -> bool:
    device_id = f"heap-{Path(micropython or 'default').name}-{heap_k}k{'-dps' if dps else ''}"
    flash = _device(root, hub, device_id, SESSION, mpy=True, dps=dps)
    with run_unix_port(flash, heapsize=f"{heap_k}k", micropython=micropython) as board:
        try:
            board.wait_for_line(r"^bench: acked$", timeout=60)
            hub.wait_for_connection(device_id, timeout=10, topic_filter="$iothub/methods/POST/#")
            if hub.invoke(device_id, "ping", 1, timeout=10)[0] != 200:
                return False
            hub.c2d(device_id, "x")
            board.wait_for_line(r"^bench: c2d x$", timeout=10)
            return hub.twin(device_id)["reported"].get("bench") == 1
        except (AssertionError, TimeoutError):
            return False


def smallest_heap_k(root, hub, micropython=None, low=16, high=160, step=2, dps=False):
    """The smallest heap (KB, multiple of `step`) that completes the session; None if > high."""
    if not _session_works(root, hub, high, micropython, dps):
        return None
    while high - low > step:
        middle = (low + high) // 2 // step * step
        if _session_works(root, hub, middle, micropython, dps):
            high = middle
        else:
            low = middle
    return high


def throughput(root, hub, runtime: str) -> tuple[int, int, float]:
    """(heap in use after warm-up, after MESSAGES messages, messages/s) on one runtime."""
    device_id = f"tp-{runtime}"
    mpy = runtime == "micropython-unix"
    flash = _device(root, hub, device_id, THROUGHPUT, mpy=mpy)
    if mpy:
        board = run_unix_port(flash)
    else:
        board = run_emulated_board(flash, tracemalloc=True)
    with board:
        warm = int(board.wait_for_line(r"^bench: warm ", timeout=60).split()[2])
        done = board.wait_for_line(r"^bench: done ", timeout=900).split()
    after, ms = int(done[2]), int(done[3])
    return warm, after, MESSAGES / (ms / 1000)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with running_hub(root / "hub", dps=True, dps_host_name="localhost") as hub:
            hub.dps.set_timing(retry_after_s=1)
            runs = (("32-bit", MICROPYTHON32_BIN, False), ("64-bit", MICROPYTHON_BIN, False))
            for word, binary, dps in (*runs, ("32-bit", MICROPYTHON32_BIN, True)):
                started = time.perf_counter()
                heap = smallest_heap_k(root, hub, binary, dps=dps)
                shown = f"{heap} KB" if heap else "over 160 KB"
                what = "provisioning through DPS, then a full session" if dps else "a full session"
                print(
                    f"   smallest Unix-port heap for {what}, {word}: {shown}"
                    f" (bisect {time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
            for runtime in ("micropython-unix", "cpython-emulated"):
                warm, after, rate = throughput(root, hub, runtime)
                print(
                    f"   {runtime}: heap in use {warm} B after warm-up, {after} B after"
                    f" {MESSAGES} messages ({after - warm:+d} B); {rate:.0f} messages/s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
