"""Firmware tests: the pure core's tables run under CPython and on the MicroPython Unix port."""

import sys

from host_tools.paths import FIRMWARE_DIR

HERE = FIRMWARE_DIR.parent / "tests" / "firmware"

for path in (str(FIRMWARE_DIR), str(HERE)):
    if path not in sys.path:
        sys.path.insert(0, path)

# Pure modules keep private constants out of their globals with micropython.const(); CPython has
# no `micropython` module, so give it the identity const() the board's compiler applies.
if "micropython" not in sys.modules:
    import types

    sys.modules["micropython"] = types.SimpleNamespace(const=lambda value: value)
