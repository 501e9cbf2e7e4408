"""Deploy figures of docs/deploy.md ("Measured here"), on this machine: the real
`python -m host_tools deploy|rotate|flash` commands and stock mpremote, run as a user runs them,
against the virtual board (the MicroPython Unix port behind a pty, mbedTLS), the hub emulator in
this process (mutual TLS on loopback) and esptool against esp32-mock-bootloader.

Each figure is a command's wall time, Python's start-up included, unless it says otherwise; a
figure under ~2 s is the median of 3 runs, each on a fresh board (an empty flash folder).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from host_tools.firmware_build import build_tree
from host_tools.hub.testing import running_hub
from host_tools.paths import FIRMWARE_DIR, MICROPYTHON_BIN, REPO_ROOT, UMQTT_SIMPLE
from host_tools.virtual_board import serve
from tests.deploy.conftest import APP_MAIN, make_device_folder
from tests.virtual_board.conftest import MPREMOTE, run_mpremote

RUNS = 3
FLASH_IMAGE_BYTES = 1_600_000
TELEMETRY_TIMEOUT_S = 30.0


def _say(line: str) -> None:
    print(f"   {line}", flush=True)


def _cli(*args: str, json_report: bool = True, timeout: float = 120):
    """`python -m host_tools ARGS` -> (wall seconds, its --json report or its stdout)."""
    argv = [sys.executable, "-m", "host_tools", *args] + (["--json"] if json_report else [])
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1])} exited {result.returncode}: {result.stderr}")
    return seconds, json.loads(result.stdout) if json_report else result.stdout


def _fresh_flash(work: Path, name: str) -> Path:
    folder = work / name
    folder.mkdir()
    return folder


def _missing_board_tools() -> str | None:
    """Why the virtual board cannot run here, or None."""
    if not os.access(MICROPYTHON_BIN, os.X_OK):
        return f"{MICROPYTHON_BIN} is missing: run `make setup`"
    if not UMQTT_SIMPLE.exists():
        return f"{UMQTT_SIMPLE} is missing: run `make setup`"
    if not Path(MPREMOTE[0]).exists():
        return f"{MPREMOTE[0]} is missing: run `make setup`"
    return None


def _bench_deploy_twice(work: Path, hub) -> None:
    """First deploy of the whole firmware, then the same deploy again (nothing changed)."""
    folder = work / "bench-deploy"
    identity, _ = make_device_folder(folder, "bench-deploy", hub.port, hub.ca_file)
    hub.register_x509("bench-deploy", identity.sha1)  # --no-reset soft-resets: main.py runs
    first, inside, second = [], [], []
    files = size = checked = 0
    for run in range(RUNS):
        with serve(_fresh_flash(work, f"flash-deploy-{run}"), micropython=MICROPYTHON_BIN) as b:
            seconds, report = _cli("deploy", str(folder), "--port", b.port, "--no-reset")
            first.append(seconds)
            inside.append(report["seconds"])
            files, size = len(report["copied"]), report["bytes_copied"]
            seconds, again = _cli("deploy", str(folder), "--port", b.port, "--no-reset")
            if again["copied"]:
                raise RuntimeError(f"second deploy copied {again['copied']}")
            second.append(seconds)
            checked = len(again["unchanged"])
    _say(
        f"deploy, whole firmware ({files} files, {size / 1024:.0f} KB, --no-reset): "
        f"{median(first):.1f} s (median of {RUNS}; {median(inside):.2f} s inside deploy())"
    )
    _say(
        f"second deploy, nothing changed ({checked} files checked, the agent running): "
        f"{median(second):.1f} s (median of {RUNS})"
    )


def _bench_compile(work: Path) -> None:
    """The host's share of every deploy: mpy-cross on each firmware module (build_tree)."""
    times, modules = [], 0
    for run in range(RUNS):
        started = time.perf_counter()
        written = build_tree(FIRMWARE_DIR, work / f"mpy-{run}")
        times.append(time.perf_counter() - started)
        modules = sum(1 for path in written if path.endswith(".mpy"))
    _say(
        f"the host's share of each deploy, mpy-cross of the firmware's {modules} modules: "
        f"{median(times):.2f} s (median of {RUNS}; every deploy compiles them again)"
    )


def _deploy_until_telemetry(folder: Path, port: str, app: Path, hub, device_id: str) -> float:
    """Seconds from starting `deploy --main APP` (with its reset) to the hub's first message."""
    argv = [sys.executable, "-m", "host_tools", "deploy", str(folder), "--port", port]
    argv += ["--main", str(app)]
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        while not hub.telemetry(device_id):
            code = process.poll()
            if code:
                raise RuntimeError(f"deploy exited {code}: {process.stderr.read()}")
            if time.perf_counter() - started > TELEMETRY_TIMEOUT_S:
                raise RuntimeError(
                    f"no telemetry from {device_id} after {TELEMETRY_TIMEOUT_S:.0f} s; "
                    f"connection log: {hub.connection_log[-3:]}"
                )
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        if process.wait(60):
            raise RuntimeError(f"deploy exited {process.returncode}: {process.stderr.read()}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return seconds


def _rotate(folder: Path, port: str, hub, device_id: str) -> tuple:
    """`rotate` to the secondary certificate: (switch-to-reconnection seconds, wall seconds)."""
    count = len(hub.telemetry(device_id))
    hub.wait_for_telemetry(count + 1, device_id=device_id, timeout=TELEMETRY_TIMEOUT_S)
    seconds, report = _cli("rotate", str(folder), "--port", port, "--hub-data", str(hub.data_dir))
    if hub.refusals(device_id):
        raise RuntimeError(f"the hub refused {device_id} during rotate: {hub.refusals(device_id)}")
    return report["reconnect_seconds"], seconds


def _bench_connect_and_rotate(work: Path, hub) -> None:
    """Deploy + reset to first telemetry, then rotate, on a fresh board and device each run."""
    app = work / "app_main.py"
    app.write_text(APP_MAIN)
    telemetry, reconnect, rotate_wall = [], [], []
    for run in range(RUNS):
        device_id = f"bench-dev-{run}"
        folder = work / device_id
        identity, _ = make_device_folder(folder, device_id, hub.port, hub.ca_file, secondary=True)
        hub.register_x509(device_id, identity.sha1)
        with serve(_fresh_flash(work, f"flash-{device_id}"), micropython=MICROPYTHON_BIN) as b:
            telemetry.append(_deploy_until_telemetry(folder, b.port, app, hub, device_id))
            switch, wall = _rotate(folder, b.port, hub, device_id)
            reconnect.append(switch)
            rotate_wall.append(wall)
    _say(
        "deploy --main, reset, first telemetry at the hub emulator (mbedTLS mutual TLS): "
        f"{median(telemetry):.1f} s (median of {RUNS})"
    )
    _say(
        f"rotate: switch to reconnection: {median(reconnect):.1f} s (median of {RUNS}; "
        f"the whole rotate command {median(rotate_wall):.1f} s)"
    )


def _bench_mpremote(work: Path) -> None:
    """One stock mpremote CLI command (connect + exec) on an idle virtual board."""
    times = []
    with serve(_fresh_flash(work, "flash-mpremote"), micropython=MICROPYTHON_BIN) as board:
        for _ in range(RUNS):
            started = time.perf_counter()
            result = run_mpremote(board, "exec", "print(6 * 7)")
            times.append(time.perf_counter() - started)
            if result.returncode != 0 or result.stdout.strip() != "42":
                raise RuntimeError(f"mpremote exec failed: {result.stdout}{result.stderr}")
    _say(
        f"one mpremote CLI command (connect PORT exec) on the virtual board: "
        f"{median(times):.2f} s (median of {RUNS})"
    )


def _incompressible_image(work: Path) -> Path:
    """An ESP32 image of FLASH_IMAGE_BYTES whose body does not compress (the worst case)."""
    from tests.deploy.test_flash import fake_image

    image = fake_image(work, 0, size=FLASH_IMAGE_BYTES)
    data = bytearray(image.read_bytes())
    data[64:] = os.urandom(len(data) - 64)
    image.write_bytes(bytes(data))
    return image


def _bench_flash(work: Path) -> None:
    """`flash --board esp32` (erase, write, verify) onto esp32-mock-bootloader, one run."""
    try:
        from esp32_mock_bootloader import mock_bootloader
    except ImportError:
        _say("flash: not measured: esp32-mock-bootloader is not installed (run `make setup`)")
        return
    image = _incompressible_image(work)
    with mock_bootloader(chip="esp32") as mock:
        argv = ["flash", "--board", "esp32", "--port", mock.url(), "--firmware", str(image)]
        seconds, out = _cli(*argv, json_report=False, timeout=300)
    if "verified" not in out.splitlines()[-1]:
        raise RuntimeError(f"flash did not report a verified image: {out}")
    _say(
        f"flash of a {FLASH_IMAGE_BYTES / 1e6:.1f} MB image (incompressible) on "
        f"esp32-mock-bootloader, erased and verified: {seconds:.1f} s (one run)"
    )


def main() -> None:
    """Print one line per figure (or one line saying why it cannot be measured here)."""
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        work = Path(tmp)
        missing = _missing_board_tools()
        if missing:
            _say(f"virtual board figures not measured: {missing}")
        else:
            with running_hub(work / "hub") as hub:
                _bench_deploy_twice(work, hub)
                _bench_compile(work)
                _bench_connect_and_rotate(work, hub)
            _bench_mpremote(work)
        _bench_flash(work)


if __name__ == "__main__":
    main()
