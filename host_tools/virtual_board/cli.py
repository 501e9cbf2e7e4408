"""`board serve --flash DIR`: a virtual board on a pty, until Ctrl-C."""

import signal
import sys
import time
from pathlib import Path

from host_tools.cli import add_command
from host_tools.virtual_board.board import VirtualBoard


def register(subparsers):
    board = subparsers.add_parser("board", help="the virtual board (Unix port behind a pty)")
    commands = board.add_subparsers(dest="board_command", required=True)
    serve = add_command(
        commands,
        "serve",
        "serve a virtual board; prints its serial port (a pty) for mpremote",
        ("--flash build/board-flash", "--flash build/board-flash --echo --heap 160K"),
    )
    serve.add_argument(
        "--flash", required=True, help="folder used as the board's filesystem (made if missing)"
    )
    serve.add_argument(
        "--echo", action="store_true", help="also copy everything the board prints to stderr"
    )
    serve.add_argument(
        "--heap", default=None, help="MicroPython heap size, e.g. 160K (default: the port's)"
    )
    serve.set_defaults(func=run_serve)


def run_serve(args) -> int:
    echo = None
    if args.echo:

        def echo(data):
            sys.stderr.buffer.write(data)
            sys.stderr.flush()

    flash = Path(args.flash)
    if not flash.exists() and flash.parent.is_dir():
        flash.mkdir()  # a new board: its flash starts empty, as after `flash` erased it
    board = VirtualBoard(flash, heap_size=args.heap, echo=echo)
    # `kill` (SIGTERM) stops the board as Ctrl-C does: its device process goes with it, instead
    # of connecting to the hub as the device with nobody to see it.
    signal.signal(signal.SIGTERM, _stop_on_term)
    try:  # a SIGTERM right after the port is printed still stops the device process
        board.start()
        print(board.port, flush=True)
        print(
            f"virtual board on {board.port}, flash {board.flash_dir}: "
            f"`mpremote connect {board.port} ...`; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        board.stop()


def _stop_on_term(signum, frame):
    raise KeyboardInterrupt
