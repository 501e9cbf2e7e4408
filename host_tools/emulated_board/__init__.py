"""The CPython emulated board: MicroPython's board modules as shims, so the firmware runs unchanged.

Python API:
    assemble_flash(flash_dir, device, mpy=False)      a board's filesystem from firmware/ + a device
    run_emulated_board(flash_dir, ...)                main.py under CPython with the shims
    run_unix_port(flash_dir, heapsize=None, ...)      main.py under the MicroPython Unix port
Both runners return a BoardProcess (see runner.py). The seam is described in docs/emulated-board.md.
"""

from host_tools.emulated_board.flash import assemble_flash
from host_tools.emulated_board.runner import (
    RESET_EXIT_CODE,
    WATCHDOG_EXIT_CODE,
    BoardProcess,
    run_emulated_board,
    run_unix_port,
)

__all__ = [
    "RESET_EXIT_CODE",
    "WATCHDOG_EXIT_CODE",
    "BoardProcess",
    "assemble_flash",
    "run_emulated_board",
    "run_unix_port",
]
