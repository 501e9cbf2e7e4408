"""`python -m host_tools board serve --flash DIR` prints its pty, which mpremote can use."""

import os
import signal
import subprocess
import sys

from tests.virtual_board.conftest import MPREMOTE


def test_board_serve_prints_pty_that_mpremote_drives(tmp_path, micropython_bin):
    flash = tmp_path / "flash"
    flash.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "board", "serve", "--flash", str(flash)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = server.stdout.readline().strip()
        assert port.startswith("/dev/pts/")
        result = subprocess.run(
            [*MPREMOTE, "connect", port, "exec", "open('/hello.txt','w').write('hi')"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert (flash / "hello.txt").read_text() == "hi"
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(10) == 0


def test_board_serve_missing_flash_dir_is_one_line_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "host_tools", "board", "serve", "--flash", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr
    assert os.path.exists(tmp_path)
