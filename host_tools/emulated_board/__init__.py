"""The emulated board: the firmware, unchanged, under CPython.

MicroPython-isms patched into CPython and the CPython-only shims (`micropython`, `tls` over
OpenSSL) from shims/; `machine`, `network`, `ntptime` from host_tools/board_fakes/, the same fakes
the virtual board runs on the Unix port. The other two harnesses: host_tools/unix_port.py (the
real VM, nothing faked) and host_tools/virtual_board (the Unix port behind a pty).

Python API:
    run_emulated_board(flash_dir, ...)   main.py under CPython; returns a BoardProcess
    assemble_flash(flash_dir, device)    a board's filesystem (host_tools/board_flash.py)
The seam is described in docs/emulated-board.md.
"""

from host_tools.board_flash import assemble_flash
from host_tools.board_process import BoardProcess
from host_tools.emulated_board.runner import (
    RESET_EXIT_CODE,
    WATCHDOG_EXIT_CODE,
    run_emulated_board,
)

__all__ = [
    "RESET_EXIT_CODE",
    "WATCHDOG_EXIT_CODE",
    "BoardProcess",
    "assemble_flash",
    "run_emulated_board",
]
