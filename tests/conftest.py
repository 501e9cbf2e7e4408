"""Fixtures every test area shares: the MicroPython Unix port and the fetched umqtt.simple."""

import os
import subprocess

import pytest

from host_tools.paths import MICROPYTHON_BIN, UMQTT_SIMPLE


@pytest.fixture(scope="session")
def micropython_bin():
    """The MicroPython Unix port. Missing is a failure, never a skip: `make setup` installs it."""
    if not os.access(MICROPYTHON_BIN, os.X_OK):
        pytest.fail(f"{MICROPYTHON_BIN} is missing: run `make setup`")
    out = subprocess.run(
        [str(MICROPYTHON_BIN), "-c", "import tls; print('ok')"], capture_output=True, text=True
    )
    assert out.stdout.strip() == "ok", out.stderr
    return MICROPYTHON_BIN


@pytest.fixture(scope="session")
def umqtt_simple():
    if not UMQTT_SIMPLE.exists():
        pytest.fail(f"{UMQTT_SIMPLE} is missing: run `make setup`")
    return UMQTT_SIMPLE
