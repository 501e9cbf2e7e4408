"""The board fakes: `machine`, `network`, `ntptime` for both off-board runtimes.

The modules in this folder run on the device side, under CPython (the emulated board) and under
the MicroPython Unix port (the virtual board), so they keep to the subset of Python both have.
Each runtime's start-up puts this folder on sys.path for a moment and calls
`_board.start(flash, boot)`, which installs fake_<name> as sys.modules[<name>]. The host imports
only `exit_codes`, the table its supervisors read. Knobs: environment variables BOARD_FAKE_<NAME>
(WIFI, WIFI_FILE, WIFI_DELAY_MS, PIN_LOG, HOSTNAME).
"""

from pathlib import Path

FAKES_DIR = Path(__file__).resolve().parent
