"""A virtual board on a temporary flash folder, and stock mpremote to drive it."""

import subprocess
import sys
from pathlib import Path

import pytest

MPREMOTE = [str(Path(sys.executable).parent / "mpremote")]


@pytest.fixture
def mpremote(board):
    """mpremote(*args) -> CompletedProcess: stock mpremote connected to the board's pty."""

    def run(*args, timeout=30):
        return run_mpremote(board, *args, timeout=timeout)

    return run


def run_mpremote(board, *args, timeout=30):
    """Stock mpremote connected to `board`'s pty -> CompletedProcess."""
    return subprocess.run(
        [*MPREMOTE, "connect", board.port, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
