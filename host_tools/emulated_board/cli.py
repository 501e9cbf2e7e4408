"""`python -m host_tools emulated-board run --flash DIR [--for-s N]`: the firmware on CPython."""

from host_tools.cli import add_command
from host_tools.emulated_board.runner import run_emulated_board


def register(subparsers):
    parser = subparsers.add_parser(
        "emulated-board", help="run the firmware on the CPython emulated board"
    )
    commands = parser.add_subparsers(dest="emulated_board_command", required=True)
    run = add_command(
        commands,
        "run",
        "run main.py from a flash folder, unchanged; exits with the board's code",
        ("--flash build/flash", "--flash build/flash --for-s 30 --no-reboot"),
    )
    run.add_argument("--flash", required=True, help="the board's flash folder (cwd of the board)")
    run.add_argument(
        "--for-s", type=float, default=None, metavar="N", help="stop after N seconds (exit 0)"
    )
    run.add_argument(
        "--no-reboot", action="store_true", help="exit on machine.reset() instead of rebooting"
    )
    run.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    board = run_emulated_board(args.flash, reboot=not args.no_reboot, for_s=args.for_s, echo=True)
    try:
        code = board.wait_for_exit(timeout=float("inf") if args.for_s is None else args.for_s + 15)
    except KeyboardInterrupt:
        board.stop()
        return 130
    # stopped by --for-s is a success: the run lasted as long as asked
    if args.for_s is not None and code in (-9, -15):
        return 0
    return code if code >= 0 else 128 - code
