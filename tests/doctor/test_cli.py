"""`python -m host_tools doctor`: lines, --json, exit codes, usage errors."""

import json

import pytest
import serial

from host_tools.cli import main
from host_tools.doctor import doctor as doctor_module
from host_tools.doctor.board import BoardFacts


def test_cli_healthy_device_lines_and_exit_0(deployed, capsys):
    code = main(["doctor", "--port", deployed.board.port, "--hub-data", str(deployed.hub.data_dir)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[0].startswith("pass  micropython: v1.25.0")
    assert lines[-1].startswith("pass  connection: the board connected to localhost:")
    assert all(line.startswith("pass  ") for line in lines)


def test_cli_json_lists_checks_and_exit_1_on_fail(deployed, capsys):
    (deployed.flash / "config.json").unlink()
    code = main(
        [
            "doctor",
            "--port",
            deployed.board.port,
            "--hub-data",
            str(deployed.hub.data_dir),
            "--json",
        ]
    )
    results = json.loads(capsys.readouterr().out)
    assert code == 1
    assert set(results[0]) == {"check", "status", "detail", "fix"}
    assert {"check": "config.json", "status": "fail", "detail": "not on the board"}.items() <= (
        results[-1].items()
    )


def test_cli_clock_not_set_fails_clock(deployed, capsys, monkeypatch):
    # the virtual board keeps the host's clock: give the doctor a board that reads 2000-01-01
    read = doctor_module.board_read_facts

    def at_2000(transport):
        facts = read(transport)
        return BoardFacts(**{**facts.__dict__, "unix_time": 946684800.0})

    monkeypatch.setattr(doctor_module, "board_read_facts", at_2000)
    code = main(["doctor", "--port", deployed.board.port, "--no-connect"])
    out = capsys.readouterr().out
    assert code == 1
    assert "fail  clock: the board says 2000-01-01 00:00:00 UTC: never set" in out
    assert "; fix: the agent sets it by NTP" in out


def test_cli_without_hub_data_checks_azure_roots(deployed, capsys):
    code = main(["doctor", "--port", deployed.board.port, "--no-connect"])
    out = capsys.readouterr().out
    assert code == 1  # trust.pem holds only the emulator's CA
    assert "fail  trust bundle: " in out
    assert "lacks DigiCert Global Root G2, Microsoft RSA Root Certificate Authority 2017" in out
    assert "registration" not in out


def test_cli_missing_port_exit_2_with_ports_message(tmp_path, capsys):
    code = main(["doctor", "--port", str(tmp_path / "ttyUSB9")])
    assert code == 2
    assert "no board on" in capsys.readouterr().err


def test_cli_busy_port_exit_2_names_holder(board, capsys):
    holder = serial.serial_for_url(board.port, exclusive=True)
    try:
        code = main(["doctor", "--port", board.port])
    finally:
        holder.close()
    assert code == 2
    assert f"port {board.port} is busy" in capsys.readouterr().err


def test_cli_hub_data_and_hub_host_together_is_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["doctor", "--port", "/dev/null", "--hub-data", "d", "--hub-host", "h"])
    assert exit_info.value.code == 2
