"""The Unix port runner: a flash folder's main.py on the MicroPython Unix port, nothing faked.

The real VM with its own `machine` and no `network` (the firmware then leaves the network to the
OS), mbedTLS and a real GC heap (`-X heapsize=`): what the ESP32 will do with RAM and `.mpy`. For
a board with a serial line (mpremote, deploy), see host_tools/virtual_board; for fault injection
under CPython, host_tools/emulated_board.
"""

import os
from pathlib import Path

from host_tools.board_process import BoardProcess, process_env
from host_tools.errors import UserError
from host_tools.paths import MICROPYTHON_BIN


def run_unix_port(
    flash_dir,
    heapsize=None,
    *,
    script="main.py",
    env=None,
    for_s=None,
    echo=False,
    micropython=None,
) -> BoardProcess:
    """Start `script` from `flash_dir` on the MicroPython Unix port (`-X heapsize=` if given)."""
    flash_dir = Path(flash_dir).resolve()
    binary = Path(micropython or MICROPYTHON_BIN)
    if not os.access(binary, os.X_OK):
        raise UserError(f"{binary}: no MicroPython Unix port; run `make setup`")
    if not flash_dir.is_dir():
        raise UserError(f"{flash_dir}: no such flash folder")
    variables = process_env(env)
    variables["MICROPYPATH"] = f"{flash_dir}:{flash_dir / 'lib'}"
    argv = [str(binary)]
    if heapsize:
        argv += ["-X", f"heapsize={heapsize}"]
    argv.append(script)
    return BoardProcess(argv, flash_dir, variables, "micropython", for_s=for_s, echo=echo)
