"""The board modules of the emulated board: machine, network, time, and what is not there."""

import subprocess
import sys

import pytest

from host_tools.board_fakes import exit_codes
from host_tools.emulated_board import (
    RESET_EXIT_CODE,
    WATCHDOG_EXIT_CODE,
    assemble_flash,
    run_emulated_board,
)


def _flash(tmp_path, script):
    flash = tmp_path / "flash"
    flash.mkdir(exist_ok=True)
    (flash / "main.py").write_text(script)
    return flash


def test_machine_reset_with_reboot_restarts_with_hard_reset_cause(tmp_path):
    flash = _flash(
        tmp_path,
        "import machine\n"
        "print('boot', machine.reset_cause())\n"
        "if machine.reset_cause() == machine.PWRON_RESET:\n"
        "    machine.reset()\n",
    )
    with run_emulated_board(flash, reboot=True) as board:
        assert board.wait_for_exit(20) == 0
        assert [line for line in board.lines if line.startswith("boot")] == ["boot 1", "boot 2"]


def test_machine_reset_without_reboot_exits_with_reset_code(tmp_path):
    flash = _flash(tmp_path, "import machine\nmachine.reset()\nprint('not reached')\n")
    with run_emulated_board(flash) as board:
        assert board.wait_for_exit(20) == RESET_EXIT_CODE
        assert "not reached" not in board.output


def test_watchdog_not_fed_ends_process_with_watchdog_code(tmp_path):
    flash = _flash(
        tmp_path,
        "import machine, time\n"
        "wdt = machine.WDT(timeout=200)\n"
        "for _ in range(5):\n"
        "    time.sleep_ms(100)\n"
        "    wdt.feed()\n"
        "print('fed for 500 ms')\n"
        "time.sleep(5)\n"
        "print('not reached')\n",
    )
    with run_emulated_board(flash) as board:
        assert board.wait_for_exit(20) == WATCHDOG_EXIT_CODE
        assert "fed for 500 ms" in board.output
        assert "not reached" not in board.output
        assert "watchdog timeout" in board.output


WIFI_SCRIPT = """
import network, time
w = network.WLAN(network.STA_IF)
w.active(True)
w.connect("ssid", "pw")
t0 = time.ticks_ms()
while not w.isconnected() and time.ticks_diff(time.ticks_ms(), t0) < 600:
    time.sleep_ms(10)
print("wifi", w.isconnected(), w.status(), w.ifconfig()[0])
"""


def test_wifi_default_joins_host_network(tmp_path):
    with run_emulated_board(_flash(tmp_path, WIFI_SCRIPT)) as board:
        assert board.wait_for_line("^wifi", 20) == "wifi True 1010 127.0.0.1"


def test_wifi_set_down_never_connects_and_reports_no_ap(tmp_path):
    flash = _flash(tmp_path, WIFI_SCRIPT)
    with run_emulated_board(flash, env={"BOARD_FAKE_WIFI": "down"}) as board:
        assert board.wait_for_line("^wifi", 20) == "wifi False 201 0.0.0.0"


def test_watchdog_with_reboot_restarts_with_wdt_reset_cause(tmp_path):
    # the shared exit-code table: EXIT_WDT -> boot "wdt" -> WDT_RESET, as on the virtual board
    flash = _flash(
        tmp_path,
        "import machine\n"
        "print('boot', machine.reset_cause())\n"
        "if machine.reset_cause() == machine.PWRON_RESET:\n"
        "    machine.WDT(timeout=200)\n"
        "    import time; time.sleep(5)\n",
    )
    with run_emulated_board(flash, reboot=True) as board:
        assert board.wait_for_exit(20) == 0
        assert [line for line in board.lines if line.startswith("boot")] == ["boot 1", "boot 3"]


def test_exit_codes_are_the_board_fakes_table():
    assert (RESET_EXIT_CODE, WATCHDOG_EXIT_CODE) == (exit_codes.EXIT_HARD, exit_codes.EXIT_WDT)


@pytest.mark.parametrize("mode, status", [("wrong-password", 202), ("fail", 203)])
def test_wifi_failure_modes_report_their_status(tmp_path, mode, status):
    flash = _flash(tmp_path, WIFI_SCRIPT)
    with run_emulated_board(flash, env={"BOARD_FAKE_WIFI": mode}) as board:
        assert board.wait_for_line("^wifi", 20) == f"wifi False {status} 0.0.0.0"


def test_pins_and_ticks_behave_like_micropython(tmp_path):
    flash = _flash(
        tmp_path,
        "import machine, time\n"
        "led = machine.Pin(2, machine.Pin.OUT)\n"
        "led.on(); a = led.value(); led.off()\n"
        "print('pin', a, led.value())\n"
        "print('wrap', time.ticks_diff(time.ticks_add(0, -1), 0), time.ticks_add(2**30 - 1, 1))\n"
        "t = time.ticks_ms(); time.sleep_ms(50)\n"
        "print('slept', 45 <= time.ticks_diff(time.ticks_ms(), t) < 500)\n",
    )
    with run_emulated_board(flash) as board:
        assert board.wait_for_exit(20) == 0
        assert board.lines == ["pin 1 0", "wrap -1 0", "slept True"]


def test_modules_missing_on_the_board_fail_to_import(tmp_path):
    flash = _flash(
        tmp_path,
        "for name in ('ssl', 'hmac', 'usocket', 'ubinascii', 'ustruct', 'host_tools'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "        print(name, 'present')\n"
        "    except ImportError:\n"
        "        print(name, 'missing')\n",
    )
    with run_emulated_board(flash) as board:
        assert board.wait_for_exit(20) == 0
        assert board.lines == [
            "ssl missing",
            "hmac missing",
            "usocket present",
            "ubinascii present",
            "ustruct present",
            "host_tools missing",
        ]


def test_assemble_flash_with_mpy_compiles_all_but_main(tmp_path):
    firmware = tmp_path / "fw"
    firmware.mkdir()
    (firmware / "main.py").write_text("import agent\n")
    (firmware / "agent.py").write_text("X = 1\n")
    flash = assemble_flash(
        tmp_path / "flash", {"config.json": {"device_id": "d"}}, mpy=True, firmware_dir=firmware
    )
    names = sorted(str(p.relative_to(flash)) for p in flash.rglob("*") if p.is_file())
    assert names == [
        "agent.mpy",
        "config.json",
        "lib/umqtt/__init__.mpy",
        "lib/umqtt/simple.mpy",
        "main.py",
    ]
    assert (flash / "agent.mpy").read_bytes()[:1] == b"M"


def test_cli_run_for_s_stops_a_running_board(tmp_path):
    flash = _flash(tmp_path, "import time\nprint('up')\nwhile True:\n    time.sleep_ms(50)\n")
    out = subprocess.run(
        [sys.executable, "-m", "host_tools", "emulated-board", "run", "--flash", str(flash)]
        + ["--for-s", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["up"]
