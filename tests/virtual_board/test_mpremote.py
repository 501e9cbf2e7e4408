"""Stock mpremote (the CLI, as a user runs it) against the virtual board."""

import hashlib
import subprocess
import sys
import time

import pytest
import serial

from host_tools.virtual_board import serve
from tests.virtual_board.conftest import run_mpremote


def test_exec_print_reaches_host(mpremote):
    result = mpremote("exec", "print('hello', 6 * 7)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello 42"


def test_eval_expression_returns_value(mpremote):
    result = mpremote("eval", "2 ** 20")
    assert result.stdout.strip() == "1048576"


def test_exec_exception_traceback_and_nonzero_exit(mpremote):
    result = mpremote("exec", "raise ValueError('boom')")
    assert result.returncode != 0
    assert "ValueError: boom" in result.stdout + result.stderr


def test_run_local_script_executes_on_board(mpremote, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("import sys\nprint(sys.implementation.name)\n")
    result = mpremote("run", str(script))
    assert result.stdout.strip() == "micropython"


def test_fs_cp_ls_cat_sha256sum_rm_roundtrip(mpremote, flash_dir, tmp_path):
    local = tmp_path / "data.bin"
    local.write_bytes(bytes(range(256)) * 20)
    assert mpremote("fs", "mkdir", ":lib").returncode == 0
    assert mpremote("fs", "cp", str(local), ":lib/data.bin").returncode == 0
    assert (flash_dir / "lib" / "data.bin").read_bytes() == local.read_bytes()
    listing = mpremote("fs", "ls", ":lib").stdout
    assert "5120 data.bin" in listing
    digest = mpremote("fs", "sha256sum", ":lib/data.bin").stdout
    assert hashlib.sha256(local.read_bytes()).hexdigest() in digest
    (flash_dir / "note.txt").write_text("on the board\n")
    assert mpremote("fs", "cat", ":note.txt").stdout == "on the board\n"
    assert mpremote("fs", "rm", ":lib/data.bin").returncode == 0
    assert not (flash_dir / "lib" / "data.bin").exists()


def test_fs_absolute_paths_stay_inside_flash_dir(mpremote, flash_dir):
    result = mpremote("exec", "import os\nos.mkdir('/certs')\nprint(os.getcwd(), os.listdir('/'))")
    assert result.stdout.strip() == "/ ['certs']"
    assert (flash_dir / "certs").is_dir()


def test_soft_reset_forgets_globals(mpremote):
    result = mpremote("exec", "x = 5", "soft-reset", "exec", "print('x' in globals())")
    assert result.stdout.strip() == "False"


def test_reset_runs_main_py_with_hard_reset_cause(board, mpremote, flash_dir):
    (flash_dir / "main.py").write_text(
        "import machine\nprint('main ran, cause', machine.reset_cause())\n"
    )
    mark = len(board.output())
    assert mpremote("reset").returncode == 0
    assert board.wait_for_output("main ran, cause 2", timeout=10, start=mark)
    assert board.boots[-1] == "hard"


def test_running_main_py_is_interrupted_by_mpremote(board, mpremote, flash_dir):
    (flash_dir / "main.py").write_text(
        "import time\nprint('looping')\nwhile True:\n time.sleep_ms(50)\n"
    )
    board.power_cut()
    assert board.wait_for_output("looping", timeout=10)
    started = time.monotonic()
    result = mpremote("exec", "print('got in')")
    assert result.stdout.strip() == "got in"
    assert time.monotonic() - started < 5


WIFI_JOIN = (
    "import network, time\n"
    "w = network.WLAN(network.STA_IF); w.active(True); w.connect('ssid', 'pw')\n"
    "t0 = time.ticks_ms()\n"
    "while not w.isconnected() and time.ticks_diff(time.ticks_ms(), t0) < 600:\n"
    "    time.sleep_ms(10)\n"
    "print('wifi', w.isconnected(), w.status(), w.ifconfig()[0])\n"
)


def test_network_and_machine_shims_look_like_an_esp32(mpremote):
    code = WIFI_JOIN + (
        "import machine\n"
        "print(len(machine.unique_id()))\n"
        "p = machine.Pin(2, machine.Pin.OUT); p.on(); print(p.value())\n"
        "machine.WDT(timeout=5000).feed()\n"
    )
    result = mpremote("exec", code)
    assert result.stdout.splitlines() == ["wifi True 1010 127.0.0.1", "6", "1"], result.stderr


@pytest.mark.parametrize("mode, status", [("down", 201), ("wrong-password", 202), ("fail", 203)])
def test_wifi_failure_mode_knob_reaches_the_board_through_mpremote(
    flash_dir, micropython_bin, mode, status
):
    # the board fakes' knobs, shared with the emulated board (host_tools/board_fakes/)
    with serve(flash_dir, micropython=micropython_bin, env={"BOARD_FAKE_WIFI": mode}) as board:
        result = run_mpremote(board, "exec", WIFI_JOIN)
    assert result.stdout.strip() == f"wifi False {status} 0.0.0.0", result.stderr


def test_wifi_file_knob_drops_the_link_mid_session(flash_dir, micropython_bin):
    # a board path: the virtual board's "/" is the flash folder
    (flash_dir / "wifi-state").write_text("up")
    env = {"BOARD_FAKE_WIFI_FILE": "/wifi-state", "BOARD_FAKE_WIFI_DELAY_MS": 0}
    with serve(flash_dir, micropython=micropython_bin, env=env) as board:
        up = run_mpremote(board, "exec", WIFI_JOIN)
        (flash_dir / "wifi-state").write_text("down")
        down = run_mpremote(board, "exec", WIFI_JOIN)
    assert (up.stdout.strip(), down.stdout.strip()) == (
        "wifi True 1010 127.0.0.1",
        "wifi False 201 0.0.0.0",
    )


def test_watchdog_starved_reboots_with_wdt_reset_cause(board, flash_dir):
    # the exit code of the shared table (exit_codes.EXIT_WDT) -> the next boot's reset cause
    (flash_dir / "main.py").write_text(
        "import machine\n"
        "print('main ran, cause', machine.reset_cause())\n"
        "if machine.reset_cause() == machine.PWRON_RESET:\n"
        "    machine.WDT(timeout=200)\n"
    )
    board.power_cut()
    assert board.wait_for_output("main ran, cause 3", timeout=15), board.output()
    assert "watchdog timeout" in board.output()
    assert "wdt" in board.boots


def test_port_busy_second_client_refused(board, mpremote):
    holder = serial.serial_for_url(board.port, exclusive=True)
    try:
        result = mpremote("exec", "print(1)")
    finally:
        holder.close()
    assert result.returncode != 0
    assert "failed to access" in result.stdout + result.stderr


def test_friendly_repl_backspace_edits_the_line(board):
    # A human at the REPL, or noise on the line: DEL and BS erase the last character.
    with serial.serial_for_url(board.port, timeout=0.2) as port:
        port.write(b"\x03")  # a clean prompt
        _read_until(port, b">>> ")
        port.write(b"40+2\x7f3\r")
        port.write(b"7*8\x08\x086\r")  # 7*8, two erased: 76
        got = _read_until(port, b"76\n")
    assert b"43\n" in got and b"76\n" in got
    assert "Traceback" not in board.output()


def test_stray_flash_to_the_port_leaves_the_board_usable(board, mpremote, flash_dir, tmp_path):
    # esptool's sync bytes reach a board running main.py; the next mpremote must still get in.
    (flash_dir / "main.py").write_text(
        "import time\nprint('looping')\nwhile True:\n time.sleep_ms(50)\n"
    )
    board.power_cut()
    assert board.wait_for_output("looping", timeout=10)
    image = bytearray(range(256)) * 64
    image[0], image[1], image[12], image[13] = 0xE9, 3, 0, 0  # an ESP32 image header
    (tmp_path / "fw.bin").write_bytes(image)
    flash = subprocess.run(
        [
            sys.executable,
            "-m",
            "host_tools",
            "flash",
            "--board",
            "esp32",
            "--port",
            board.port,
            "--firmware",
            str(tmp_path / "fw.bin"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert flash.returncode != 0 and "no ESP bootloader answered" in flash.stderr
    result = mpremote("exec", "print('got in')")
    assert result.stdout.strip() == "got in", result.stdout + result.stderr
    assert "device crashed" not in board.output()


def _read_until(port, marker, timeout=10.0):
    deadline = time.monotonic() + timeout
    got = b""
    while marker not in got and time.monotonic() < deadline:
        got += port.read(256)
    return got


def test_ctrl_c_right_after_a_soft_reboot_stops_main_py(board, flash_dir):
    # deploy ends with a soft reboot into main.py, and the next mpremote sends Ctrl-C at once:
    # it lands while the next device process starts, before main.py runs, and must not be lost
    (flash_dir / "main.py").write_text("import time\nwhile True:\n time.sleep_ms(50)\n")
    with serial.serial_for_url(board.port, timeout=0.2) as port:
        for attempt in range(5):
            port.write(b"\x03\x03\x02")  # friendly REPL, whatever ran before
            _read_until(port, b">>> ")
            port.write(b"\x04")  # soft reboot: main.py runs again
            time.sleep(0.005 * attempt)
            port.write(b"\x03")
            got = _read_until(port, b">>> ", timeout=5)
            assert b">>> " in got, f"attempt {attempt}: main.py kept the board: {got!r}"
