"""`make demo`: the whole story on this machine, no board and no Azure account.

Mint an X.509 identity -> start the IoT Hub emulator -> register the thumbprint -> start a virtual
board (the MicroPython Unix port, mbedTLS, behind a pty) -> deploy firmware, config and
credentials with mpremote -> the board boots and sends telemetry over mutual TLS -> a desired
property and a direct method round trip, and a cloud-to-device message.
"""

import json
import shutil
import sys
import time
from pathlib import Path

from host_tools.errors import UserError
from host_tools.paths import BUILD_DIR, REPO_ROOT

DEVICE_ID = "demo-sensor-01"
APP_MAIN = REPO_ROOT / "examples" / "sensor" / "main.py"
TELEMETRY_TO_SHOW = 3


def register(subparsers):
    from host_tools.cli import add_command

    parser = add_command(
        subparsers,
        "demo",
        "run the whole loop locally (make demo)",
        ("", "--workdir /tmp/iothub-demo --timeout 120"),
    )
    parser.add_argument(
        "--workdir",
        default=str(BUILD_DIR / "demo"),
        help="scratch folder, emptied first (default %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60, help="seconds for each step (default %(default)s)"
    )
    parser.set_defaults(func=run_demo)


def _step(number, text):
    print(f"\n[{number}] {text}", flush=True)


def _say(text):
    print(f"    {text}", flush=True)


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise UserError(f"demo: timed out after {timeout:.0f} s waiting for {what}")


def _shown(path: Path) -> str:
    # relative to where the user is when that is shorter; --workdir may be anywhere
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _board_failed(board) -> bool:
    return "agent: error:" in board.output()


def run_demo(args) -> int:
    from host_tools.certs import create_device_cert, write_trust_bundle
    from host_tools.deploy import build_config, deploy, write_config
    from host_tools.hub.testing import running_hub
    from host_tools.virtual_board import serve

    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    device_dir = workdir / "device"
    flash_dir = workdir / "board-flash"
    flash_dir.mkdir(parents=True)
    timeout = args.timeout

    _step(1, f"Mint an X.509 identity for {DEVICE_ID} (self-signed, ECC P-256)")
    identity = create_device_cert(DEVICE_ID, device_dir / "certs", self_signed=True)
    _say(f"certificate  {_shown(identity.cert_der)} (private key beside it, 0600)")
    _say(f"SHA-256      {identity.sha256}")

    _step(2, "Start the IoT Hub emulator (MQTT over mutual TLS, the hub's dialect)")
    with running_hub(workdir / "hub") as hub:
        _say(f"listening on 127.0.0.1:{hub.port}, CA for devices: {Path(hub.ca_file).name}")

        _step(3, "Register the device's thumbprint with the hub")
        hub.register_x509(DEVICE_ID, identity.sha256)
        _say(f"{DEVICE_ID}: x509 self-signed, primary thumbprint {identity.sha256[:16]}...")

        write_trust_bundle(device_dir / "certs" / "trust.pem", extra_ca=[hub.ca_file])
        config = build_config(
            "localhost",
            DEVICE_ID,
            hub_port=hub.port,
            telemetry_interval_s=2,
            wifi_ssid="virtual-wifi",  # the virtual board's WLAN joins the host network
            wifi_password="demo",
        )
        write_config(device_dir, config)

        _step(4, "Start a virtual board: the MicroPython Unix port (mbedTLS) behind a pty")
        # an ESP32 without PSRAM gives MicroPython about 110 KB of heap: the demo board gets as much
        with serve(flash_dir, heap_size="110K") as board:
            _say(f"serial port {board.port}")

            _step(5, "Deploy firmware (.mpy), config and credentials with mpremote")
            report = deploy(
                board.port,
                device_dir,
                main=APP_MAIN,
                log=lambda line: _say(line.strip()),
            )
            _say(report.summary())

            _step(6, "The board boots, connects with its certificate and sends telemetry")
            _wait(lambda: hub.is_connected(DEVICE_ID) or _board_failed(board), timeout, "connect")
            if not hub.is_connected(DEVICE_ID):
                raise UserError("demo: the board did not connect; its output:\n" + board.output())
            _say(f"hub: {DEVICE_ID} connected over mutual TLS")
            records = hub.wait_for_telemetry(TELEMETRY_TO_SHOW, DEVICE_ID, timeout=timeout)
            for line in board.output().splitlines():
                if line.startswith("agent:"):
                    _say(f"board: {line}")
            for record in records[:TELEMETRY_TO_SHOW]:
                mid = record.properties.get("$.mid", "?")
                _say(f"telemetry  {record.body.decode()}  ($.mid={mid})")

            _step(7, "Twin: the cloud sets desired interval_s=1; the device reports it back")
            version = hub.update_desired(DEVICE_ID, {"interval_s": 1})
            _say(f"desired $version {version}")
            _wait(
                lambda: hub.twin(DEVICE_ID)["reported"].get("interval_s") == 1,
                timeout,
                "the device to report interval_s",
            )
            _say("the device applied it and reported interval_s = 1")

            _step(8, "Direct method: get_status")
            status, payload = hub.invoke(DEVICE_ID, "get_status", {}, timeout=timeout)
            _say(f"status {status}, payload {json.dumps(payload)}")
            if status != 200:
                raise UserError(f"demo: get_status answered {status}, expected 200")

            _step(9, "Cloud-to-device message")
            hub.c2d(DEVICE_ID, "hello from the cloud", {"kind": "greeting"})
            _wait(
                lambda: "app: cloud says hello from the cloud" in board.output(),
                timeout,
                "the device to print the C2D message",
            )
            _say("device printed: app: cloud says hello from the cloud {'kind': 'greeting'}")

    print(
        "\nDone: the firmware sent telemetry, followed its twin and answered a method over "
        "mutual TLS,\nrunning on real MicroPython with mbedTLS, deployed by stock mpremote.",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    from host_tools.cli import main

    sys.exit(main(["demo", *sys.argv[1:]]))
