"""A board's flash folder: the firmware, umqtt.simple and a device's config and certs."""

import json
import shutil
from pathlib import Path

from host_tools.errors import UserError
from host_tools.firmware_build import build_tree
from host_tools.paths import FIRMWARE_DIR, UMQTT_LIB_DIR


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
    build_tree(firmware, flash, compile=mpy)
    lib = Path(umqtt_dir or UMQTT_LIB_DIR)
    if not (lib / "umqtt" / "simple.py").exists():
        raise UserError(f"{lib / 'umqtt' / 'simple.py'} is missing: run `make setup`")
    build_tree(lib, flash / "lib", compile=mpy)
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
