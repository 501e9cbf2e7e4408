"""Firmware tests: the pure core's tables run under CPython and on the MicroPython Unix port."""

import sys

from host_tools.paths import FIRMWARE_DIR

HERE = FIRMWARE_DIR.parent / "tests" / "firmware"

for path in (str(FIRMWARE_DIR), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)
