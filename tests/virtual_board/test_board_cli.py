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


def test_board_serve_missing_flash_parent_is_one_line_error(tmp_path):
    # a missing folder is a new board's empty flash; a missing parent is a typo
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "host_tools",
            "board",
            "serve",
            "--flash",
            str(tmp_path / "no" / "pe"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "does not exist" in result.stderr
    assert os.path.exists(tmp_path)


def test_board_serve_killed_with_sigterm_takes_the_device_process_along(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    # a main.py that never reads stdin, like the agent: it would outlive a bare kill
    (flash / "main.py").write_text("import time\nwhile True:\n time.sleep_ms(50)\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "board", "serve", "--flash", str(flash)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline().strip().startswith("/dev/pts/")
        children = _children(server.pid)
        assert children, "the device process is not running"
        server.terminate()
        assert server.wait(10) == 0
        for pid in children:
            assert not _alive(pid), f"device process {pid} still running after SIGTERM"
    finally:
        server.kill()
        server.wait(10)


def _children(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found += [int(child) for child in f.read().split()]
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
