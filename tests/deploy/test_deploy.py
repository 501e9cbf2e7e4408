"""`deploy` with stock mpremote against the virtual board: what it copies, what it never does."""

import base64
import json
import subprocess
import sys
import time

import pytest

from host_tools.deploy import deploy
from host_tools.deploy import ports as ports_module
from host_tools.errors import UserError


def quiet(_line):
    pass


def test_deploy_dry_run_lists_changes_and_copies_nothing(board, offline_device, flash_dir):
    folder, _ = offline_device
    lines = []
    report = deploy(board.port, folder, dry_run=True, log=lines.append)
    assert report.dry_run and "config.json" in report.copied
    assert any(p.startswith("certs/device.") and p.endswith(".key.der") for p in report.copied)
    assert any("would copy agent.mpy" in line for line in lines)
    assert sorted(p.name for p in flash_dir.iterdir()) == []


def test_deploy_second_run_copies_nothing(board, offline_device):
    folder, _ = offline_device
    first = deploy(board.port, folder, reset=False, log=quiet)
    second = deploy(board.port, folder, reset=False, log=quiet)
    assert len(first.copied) > 10
    assert second.copied == [] and len(second.unchanged) == len(first.copied)


def test_deploy_changed_config_copies_only_config(board, offline_device):
    folder, _ = offline_device
    deploy(board.port, folder, reset=False, log=quiet)
    config = json.loads((folder / "config.json").read_text())
    config["telemetry_interval_s"] = 30
    (folder / "config.json").write_text(json.dumps(config))
    report = deploy(board.port, folder, reset=False, log=quiet)
    assert report.copied == ["config.json"]


def test_deploy_board_files_are_mpy_and_credentials_content_named(board, offline_device, flash_dir):
    folder, identity = offline_device
    deploy(board.port, folder, reset=False, log=quiet)
    assert (flash_dir / "main.py").exists() and (flash_dir / "agent.mpy").exists()
    assert not (flash_dir / "agent.py").exists()
    config = json.loads((flash_dir / "config.json").read_text())
    assert (flash_dir / config["key_file"]).read_bytes() == identity.key_der.read_bytes()
    assert (flash_dir / config["cert_file"]).read_bytes() == identity.cert_der.read_bytes()
    assert not list(flash_dir.rglob("*.tmp"))


def test_deploy_main_option_installs_the_application_as_main_py(
    board, offline_device, flash_dir, tmp_path
):
    folder, _ = offline_device
    app = tmp_path / "app.py"
    app.write_text("# my application\nfrom agent import Agent\n")
    deploy(board.port, folder, reset=False, log=quiet, main=app)
    assert (flash_dir / "main.py").read_text() == app.read_text()
    assert (flash_dir / "agent.mpy").exists()
    report = deploy(board.port, folder, reset=False, log=quiet)
    assert report.copied == ["main.py"]  # back to the firmware's own main.py


def test_deploy_main_option_missing_file_is_user_error(board, offline_device, tmp_path):
    folder, _ = offline_device
    with pytest.raises(UserError, match="no such application file"):
        deploy(board.port, folder, log=quiet, main=tmp_path / "nope.py")


def test_deploy_stale_py_module_removed_when_mpy_shipped(board, offline_device, flash_dir):
    folder, _ = offline_device
    (flash_dir / "agent.py").write_text("raise ImportError('old source must not shadow the .mpy')")
    report = deploy(board.port, folder, reset=False, log=quiet)
    assert "agent.py" in report.removed
    assert not (flash_dir / "agent.py").exists()


def test_deploy_private_key_never_printed(board, offline_device, capsys):
    folder, identity = offline_device
    lines = []
    deploy(board.port, folder, log=lines.append)
    printed = "\n".join(lines) + capsys.readouterr().out
    key = identity.key_der.read_bytes()
    for form in (key.hex(), base64.b64encode(key).decode()[:40], repr(key)[2:40]):
        assert form not in printed
    assert "private key: contents never shown" in printed


def test_deploy_installs_pinned_umqtt_when_board_has_none(board, offline_device, flash_dir):
    folder, _ = offline_device
    report = deploy(board.port, folder, reset=False, log=quiet)
    assert "pinned" in report.umqtt
    assert (flash_dir / "lib" / "umqtt" / "simple.py").exists()


def test_deploy_uses_board_umqtt_when_board_has_one(board, offline_device, flash_dir):
    # stands in for an ESP32 build with umqtt frozen in: importable, and not from /lib
    frozen = flash_dir / "umqtt"
    frozen.mkdir(parents=True)
    (frozen / "simple.py").write_text("class MQTTClient:\n    pass\n")
    folder, _ = offline_device
    report = deploy(board.port, folder, reset=False, log=quiet)
    assert "board's own" in report.umqtt
    assert not (flash_dir / "lib" / "umqtt").exists()


def test_deploy_power_cut_while_copying_credentials_keeps_old_set(
    board, tmp_path, flash_dir, monkeypatch
):
    deploy_module = sys.modules["host_tools.deploy.deploy"]
    from tests.deploy.conftest import _self_signed_pem, make_device_folder

    monkeypatch.setattr(deploy_module, "FILE_TIMEOUT", 3.0)

    trust = _self_signed_pem(tmp_path)
    old_folder, new_folder = tmp_path / "old", tmp_path / "new"
    make_device_folder(old_folder, "dev-cut", 8883, trust)
    make_device_folder(new_folder, "dev-cut", 8883, trust)
    deploy(board.port, old_folder, reset=False, log=quiet)
    before = (flash_dir / "config.json").read_bytes()

    def pull_the_plug(path):
        board.power_cut()
        time.sleep(0.3)

    with pytest.raises(UserError, match="stopped answering during deploy"):
        deploy(board.port, new_folder, log=quiet, _after_credential_copy=pull_the_plug)
    assert (flash_dir / "config.json").read_bytes() == before
    assert_consistent_credentials(flash_dir, old_folder)


def assert_consistent_credentials(flash_dir, *candidates):
    """config.json names a complete set that is one of the candidates' sets."""
    config = json.loads((flash_dir / "config.json").read_text())
    on_board = {k: (flash_dir / config[k]).read_bytes() for k in ("cert_file", "key_file")}
    sets = []
    for folder in candidates:
        local = json.loads((folder / "config.json").read_text())
        sets.append({k: (folder / local[k]).read_bytes() for k in ("cert_file", "key_file")})
    assert on_board in sets


def test_deploy_killed_mid_copy_leaves_old_or_new_set_never_half(board, tmp_path, flash_dir):
    from tests.deploy.conftest import _self_signed_pem, make_device_folder

    trust = _self_signed_pem(tmp_path)
    old_folder, new_folder = tmp_path / "old", tmp_path / "new"
    make_device_folder(old_folder, "dev-kill", 8883, trust)
    make_device_folder(new_folder, "dev-kill", 8883, trust)
    deploy(board.port, old_folder, reset=False, log=quiet)
    process = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "deploy", "--port", board.port, str(new_folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not list((flash_dir / "certs").glob("*.tmp")):
        time.sleep(0.001)
    process.kill()
    process.wait(10)
    board.power_cut()
    time.sleep(0.5)
    assert_consistent_credentials(flash_dir, old_folder, new_folder)


def test_deploy_no_repl_on_port_is_clear_error(tmp_path, monkeypatch, offline_device):
    import os

    master, slave = os.openpty()  # a serial line where nothing answers
    monkeypatch.setattr(ports_module, "REPL_TIMEOUT", 1.0)
    try:
        with pytest.raises(UserError, match="no MicroPython REPL answered on /dev/pts/"):
            deploy(os.ttyname(slave), offline_device[0], log=quiet)
    finally:
        os.close(master)
        os.close(slave)


def test_deploy_cli_missing_port_exits_2_with_one_line(offline_device):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "host_tools",
            "deploy",
            "--port",
            "/dev/ttyUSB77",
            str(offline_device[0]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: no board on /dev/ttyUSB77: the port does not exist; check the cable and --port\n"
    )


def test_deploy_cli_busy_port_names_the_holder(board, offline_device):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import serial, sys, time\n"
            f"s = serial.serial_for_url({board.port!r}, exclusive=True)\n"
            "print('holding', flush=True)\ntime.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "host_tools",
                "deploy",
                "--port",
                board.port,
                str(offline_device[0]),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert f"port {board.port} is busy: {holder.pid} (python" in result.stderr
    assert result.stderr.count("\n") == 1
