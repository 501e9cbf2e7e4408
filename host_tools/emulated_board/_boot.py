"""Start-up of the emulated board: run as `python _boot.py FLASH_DIR [SCRIPT]` (never imported).

Makes the process look like the board: cwd = the flash folder, sys.path = shims, flash, flash/lib,
then CPython's own library; MicroPython-isms patched into CPython's modules; the board fakes
(host_tools/board_fakes/, shared with the virtual board) installed as machine, network, ntptime;
modules MicroPython lacks made unimportable; then SCRIPT (default main.py) runs as __main__.
EMULATED_BOARD_BOOT (set by the supervisor on a reboot): the boot mode reset_cause() reports.
"""

import os
import sys

SHIMS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shims")
FAKES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "board_fakes")
# MicroPython 1.25's Unix port has none of these: the firmware must not reach for them.
NOT_ON_THE_BOARD = frozenset({"ssl", "ussl", "hmac", "base64", "secrets"})


class _NotOnTheBoard:
    """Import hook: a module MicroPython lacks fails as it would on the board."""

    def find_spec(self, name, path=None, target=None):
        if name in NOT_ON_THE_BOARD:
            raise ImportError(f"no module named '{name}' (not on the board)")
        return None


def _install_fakes(flash, boot):
    # Imported from their folder, which then leaves sys.path: the firmware sees only the names.
    sys.path.insert(0, FAKES_DIR)
    try:
        import _board

        _board.start(flash, boot)
    finally:
        sys.path.remove(FAKES_DIR)


def main(argv):
    if len(argv) < 2:
        print("usage: _boot.py FLASH_DIR [SCRIPT]", file=sys.stderr)
        return 2
    flash = os.path.abspath(argv[1])
    script = argv[2] if len(argv) > 2 else "main.py"
    here = os.path.dirname(os.path.abspath(__file__))
    repo_root = os.path.dirname(os.path.dirname(here))
    library = [
        p
        for p in sys.path[1:]
        if p
        and os.path.abspath(p) not in (here, repo_root, os.getcwd())
        and not p.startswith("__editable__")
    ]
    # `pip install -e .` maps host_tools from anywhere: that finder is not on the board either
    sys.meta_path[:] = [
        f for f in sys.meta_path if not str(getattr(f, "__module__", "")).startswith("__editable__")
    ]
    sys.path[:] = [SHIMS_DIR, flash, os.path.join(flash, "lib")] + library
    os.chdir(flash)

    # Everything the shims need from CPython is loaded now, before the board's rules apply.
    import shutil  # noqa: F401
    import ssl  # noqa: F401
    import tempfile  # noqa: F401
    import tracemalloc

    from cryptography.hazmat.primitives import serialization  # noqa: F401

    if os.environ.get("EMULATED_BOARD_TRACEMALLOC"):
        tracemalloc.start()
    import _patches

    _patches.apply()
    import tls  # noqa: F401

    _install_fakes(flash, os.environ.get("EMULATED_BOARD_BOOT", "power"))

    for name in NOT_ON_THE_BOARD:
        sys.modules.pop(name, None)
    sys.meta_path.insert(0, _NotOnTheBoard())

    if not os.path.exists(script):
        compiled = os.path.splitext(script)[0] + ".mpy"
        hint = f" (only {compiled}: assemble the flash with mpy=False)"
        print(
            "emulated-board: no {} in {}{}".format(
                script, flash, hint if os.path.exists(compiled) else ""
            ),
            file=sys.stderr,
        )
        return 2
    with open(script, "rb") as f:
        code = compile(f.read(), os.path.join(flash, script), "exec")
    sys.argv = [script]
    globals_ = {"__name__": "__main__", "__file__": script, "__builtins__": __builtins__}
    exec(code, globals_)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
