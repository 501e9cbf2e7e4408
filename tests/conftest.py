"""Fixtures every test area shares: the MicroPython Unix port and the fetched umqtt.simple."""

import os
import subprocess

import pytest

from host_tools.paths import MICROPYTHON32_BIN, MICROPYTHON_BIN, UMQTT_SIMPLE


def _checked_micropython(binary):
    """Missing is a failure, never a skip: `make setup` installs it."""
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{binary} is missing: run `make setup`")
    out = subprocess.run(
        [str(binary), "-c", "import tls; print('ok')"], capture_output=True, text=True
    )
    assert out.stdout.strip() == "ok", out.stderr
    return binary


@pytest.fixture(scope="session")
def micropython_bin():
    """The MicroPython Unix port (x86-64)."""
    return _checked_micropython(MICROPYTHON_BIN)


@pytest.fixture(scope="session")
def micropython32_bin():
    """The same port built for i386: the ESP32's word size."""
    return _checked_micropython(MICROPYTHON32_BIN)


@pytest.fixture(scope="session")
def umqtt_simple():
    if not UMQTT_SIMPLE.exists():
        pytest.fail(f"{UMQTT_SIMPLE} is missing: run `make setup`")
    return UMQTT_SIMPLE


@pytest.fixture
def flash_dir(tmp_path):
    """An empty folder: a board's flash."""
    folder = tmp_path / "flash"
    folder.mkdir()
    return folder


@pytest.fixture
def board(flash_dir, micropython_bin):
    """A virtual board (the Unix port behind a pty) on `flash_dir`."""
    from host_tools.virtual_board import serve

    with serve(flash_dir, micropython=micropython_bin) as handle:
        yield handle
