"""A virtual board on a temporary flash folder, and stock mpremote to drive it."""

import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.virtual_board import serve

MPREMOTE = [str(Path(sys.executable).parent / "mpremote")]


@pytest.fixture
def flash_dir(tmp_path):
    folder = tmp_path / "flash"
    folder.mkdir()
    return folder


@pytest.fixture
def board(flash_dir, micropython_bin):
    with serve(flash_dir, micropython=micropython_bin) as handle:
        yield handle


@pytest.fixture
def mpremote(board):
    """mpremote(*args) -> CompletedProcess: stock mpremote connected to the board's pty."""

    def run(*args, timeout=30):
        return subprocess.run(
            [*MPREMOTE, "connect", board.port, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
