"""`python -m host_tools doctor --port P [--hub-data D | --hub-host H] [--json]`."""

import json

from host_tools.cli import add_command
from host_tools.doctor.board import CONNECT_TIMEOUT_S


def register(subparsers) -> None:
    p = add_command(
        subparsers,
        "doctor",
        "tell why a device does not connect: one line per check, with the fix (exit 1: a check"
        " failed)",
        (
            "--port /dev/ttyUSB0 --hub-host myhub.azure-devices.net",
            "--port $PORT --hub-data hub-data --json",
        ),
    )
    p.add_argument(
        "--port", required=True, help="the board's serial port (a pty for `board serve`)"
    )
    hub = p.add_mutually_exclusive_group()
    hub.add_argument("--hub-data", help="the emulator's data folder (hub serve --data DIR)")
    hub.add_argument(
        "--hub-host",
        help="the Azure IoT Hub host name (default: config.json's hub_host; provisioned by DPS: "
        "the DPS endpoint it names)",
    )
    p.add_argument(
        "--json", action="store_true", help="a JSON list of {check, status, detail, fix}"
    )
    p.add_argument(
        "--no-connect", action="store_true", help="skip the board's own connection attempt"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=CONNECT_TIMEOUT_S,
        help="seconds the connection attempt may take (default %(default).0f)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from host_tools.doctor.doctor import has_failure, run_doctor

    results = run_doctor(
        args.port,
        hub_data=args.hub_data,
        hub_host=args.hub_host,
        connect=not args.no_connect,
        timeout_s=args.timeout,
    )
    if args.json:
        print(json.dumps([result.as_dict() for result in results], indent=2))
    else:
        for result in results:
            print(result.line())
    return 1 if has_failure(results) else 0
