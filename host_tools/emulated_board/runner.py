"""The emulated board: a flash folder's main.py under CPython, with the shims and board fakes."""

import sys
from pathlib import Path

from host_tools.board_fakes.exit_codes import EXIT_HARD, EXIT_WDT
from host_tools.board_process import BoardProcess, process_env
from host_tools.errors import UserError

BOOT_SCRIPT = Path(__file__).resolve().parent / "_boot.py"
RESET_EXIT_CODE = EXIT_HARD  # machine.reset()
WATCHDOG_EXIT_CODE = EXIT_WDT  # the watchdog starved


def run_emulated_board(
    flash_dir,
    *,
    script="main.py",
    env=None,
    reboot=False,
    for_s=None,
    echo=False,
    python=None,
    tracemalloc=False,
) -> BoardProcess:
    """Start `script` (default main.py) from `flash_dir` under CPython with the board shims.

    `env` adds knobs: the board fakes' BOARD_FAKE_* (WIFI, WIFI_FILE, WIFI_DELAY_MS, PIN_LOG) and
    EMULATED_BOARD_HEAP; `reboot` starts a fresh process when it resets (machine.reset(), the
    watchdog starving, deepsleep), as a board would; `for_s` kills it after that many seconds.
    """
    flash_dir = Path(flash_dir)
    if not flash_dir.is_dir():
        raise UserError(f"{flash_dir}: no such flash folder")
    variables = process_env(env)
    if tracemalloc:
        variables["EMULATED_BOARD_TRACEMALLOC"] = "1"
    argv = [python or sys.executable, "-u", str(BOOT_SCRIPT), str(flash_dir.resolve()), script]
    return BoardProcess(
        argv, flash_dir, variables, "emulated board", reboot=reboot, for_s=for_s, echo=echo
    )
