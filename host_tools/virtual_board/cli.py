"""`board serve --flash DIR`: a virtual board on a pty, until Ctrl-C."""

import signal
import sys
import time

from host_tools.virtual_board.board import VirtualBoard


def register(subparsers):
    board = subparsers.add_parser("board", help="the virtual board (Unix port behind a pty)")
    commands = board.add_subparsers(dest="board_command", required=True)
    serve = commands.add_parser(
        "serve", help="serve a virtual board; prints its serial port (a pty) for mpremote"
    )
    serve.add_argument("--flash", required=True, help="folder used as the board's filesystem")
    serve.add_argument(
        "--echo", action="store_true", help="also copy everything the board prints to stderr"
    )
    serve.add_argument("--heap", default=None, help="MicroPython heap size, e.g. 160K")
    serve.set_defaults(func=run_serve)


def run_serve(args) -> int:
    echo = None
    if args.echo:

        def echo(data):
            sys.stderr.buffer.write(data)
            sys.stderr.flush()

    board = VirtualBoard(args.flash, heap_size=args.heap, echo=echo)
    # `kill` (SIGTERM) stops the board as Ctrl-C does: its device process goes with it, instead
    # of connecting to the hub as the device with nobody to see it.
    signal.signal(signal.SIGTERM, _stop_on_term)
    board.start()
    print(board.port, flush=True)
    print(
        f"virtual board on {board.port}, flash {board.flash_dir}: "
        f"`mpremote connect {board.port} ...`; Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        board.stop()


def _stop_on_term(signum, frame):
    raise KeyboardInterrupt
