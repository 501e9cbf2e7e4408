"""`deploy` with stock mpremote against the virtual board: what it copies, what it never does."""

import base64
import hashlib
import json
import subprocess
import sys
import time

import pytest

from host_tools.deploy import deploy
from host_tools.deploy import ports as ports_module
from host_tools.errors import UserError
from host_tools.paths import FIRMWARE_DIR


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
    lines = []
    report = deploy(board.port, folder, reset=False, log=lines.append)
    assert "main.py" not in report.copied  # without --main the application stays
    assert (flash_dir / "main.py").read_text() == app.read_text()
    assert "  keep main.py (the board's application; --main FILE replaces it)" in lines


APP = "# the user's application, written with mpremote\n"


def test_deploy_without_main_keeps_the_boards_main_py(board, offline_device, flash_dir):
    folder, _ = offline_device
    deploy(board.port, folder, reset=False, log=quiet)  # a fresh board gets the agent's
    assert (flash_dir / "main.py").read_bytes() == (FIRMWARE_DIR / "main.py").read_bytes()
    (flash_dir / "main.py").write_text(APP)
    config = json.loads((folder / "config.json").read_text())
    config["telemetry_interval_s"] = 30
    (folder / "config.json").write_text(json.dumps(config))
    report = deploy(board.port, folder, reset=False, log=quiet)
    assert "config.json" in report.copied and "main.py" not in report.copied
    assert (flash_dir / "main.py").read_text() == APP


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


def test_deploy_to_a_board_that_ignores_ctrl_c_ends_with_the_reason(
    board, flash_dir, offline_device, monkeypatch, capsys
):
    # main.py prints on and on and swallows KeyboardInterrupt: mpremote alone would wait forever
    (flash_dir / "main.py").write_text(
        "import time\nwhile True:\n"
        " try:\n  print('sensor loop: busy')\n  time.sleep_ms(300)\n"
        " except KeyboardInterrupt:\n  pass\n"
    )
    board.power_cut()
    assert board.wait_for_output("sensor loop: busy", timeout=10)
    monkeypatch.setattr(ports_module, "REPL_TIMEOUT", 2.0)
    started = time.monotonic()
    with pytest.raises(UserError, match="ignores Ctrl-C: let KeyboardInterrupt through"):
        deploy(board.port, offline_device[0], log=quiet)
    assert time.monotonic() - started < 30
    assert capsys.readouterr().out == ""  # nothing of mpremote's leaks out


def test_board_said_turns_mpremotes_raw_bytes_into_the_last_line():
    printed = repr(b"agent: error: connection refused\r\nagent: retrying in 5.9 s\r\n") + "\n"
    assert ports_module.board_said(printed) == "agent: retrying in 5.9 s"
    assert ports_module.board_said(repr(b"raw REPL; CTRL-B to exit\r\n")) == ""
    assert ports_module.board_said("") == ""


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


def test_deploy_forget_key_deletes_host_copy_once_board_holds_it(board, offline_device, flash_dir):
    folder, identity = offline_device
    key = identity.key_der.read_bytes()
    lines = []
    deploy(board.port, folder, reset=False, log=lines.append, forget_key=True)
    config = json.loads((flash_dir / "config.json").read_text())
    assert (flash_dir / config["key_file"]).read_bytes() == key
    assert not identity.key_der.exists() and not identity.key_pem.exists()
    digest = hashlib.sha256(key).hexdigest()
    assert (folder / "certs" / "device.key.der.sha256").read_text() == digest + "\n"
    assert lines[-1] == (
        f"forgot {identity.key_der}, {identity.key_pem}: the board holds the key (sha256 "
        f"{digest[:16]}...); only that board can use this identity now"
    )
    # later deploys still work: they check the board kept the key instead of copying it
    assert deploy(board.port, folder, reset=False, log=quiet).copied == []
    (flash_dir / config["key_file"]).unlink()
    with pytest.raises(UserError, match="the private key was forgotten .* this identity is lost"):
        deploy(board.port, folder, reset=False, log=quiet)


def test_deploy_forget_key_board_copy_differs_key_kept(board, offline_device, flash_dir):
    folder, identity = offline_device

    def corrupt(path):  # the board's flash returns other bytes than were written
        if path.endswith(".key.der"):
            (flash_dir / path).write_bytes(b"flipped bits")

    with pytest.raises(UserError, match=r"device.key.der kept: the board's copy of certs/device"):
        deploy(board.port, folder, log=quiet, forget_key=True, _after_credential_copy=corrupt)
    assert identity.key_der.exists() and identity.key_pem.exists()
    assert not (folder / "certs" / "device.key.der.sha256").exists()


def test_deploy_forget_key_dry_run_keeps_key(board, offline_device):
    folder, identity = offline_device
    deploy(board.port, folder, dry_run=True, log=quiet, forget_key=True)
    assert identity.key_der.exists()


@pytest.fixture
def fat_board(flash_dir, micropython_bin):
    """A virtual board whose rename never replaces a file, as on a FAT-formatted flash."""
    from host_tools.virtual_board import serve

    with serve(flash_dir, micropython=micropython_bin, fs="fat") as handle:
        yield handle


def two_identities(tmp_path):
    from tests.deploy.conftest import _self_signed_pem, make_device_folder

    trust = _self_signed_pem(tmp_path)
    old_folder, new_folder = tmp_path / "old", tmp_path / "new"
    make_device_folder(old_folder, "dev-fat", 8883, trust)
    make_device_folder(new_folder, "dev-fat", 8883, trust)
    return old_folder, new_folder


def test_deploy_on_fat_switches_config_json_and_leaves_no_old_file(fat_board, tmp_path, flash_dir):
    old_folder, new_folder = two_identities(tmp_path)
    deploy(fat_board.port, old_folder, reset=False, log=quiet)
    steps = []
    deploy(fat_board.port, new_folder, reset=False, log=quiet, _after_switch_step=steps.append)
    assert steps == ["written", "rename", "stale old removed", "moved aside", "in place"] + [
        "old removed"
    ]
    assert_consistent_credentials(flash_dir, new_folder)
    assert sorted(p.name for p in flash_dir.glob("config.json*")) == ["config.json"]


class PowerCut(Exception):
    pass


# after this step the switch is committed: the board must come back on the new identity
COMMITTED = {"moved aside": True, "in place": True, "old removed": True}


@pytest.mark.parametrize(
    "step", ["written", "rename", "stale old removed", "moved aside", "in place", "old removed"]
)
def test_deploy_on_fat_power_cut_at_each_switch_step_board_boots_old_or_new(
    fat_board, tmp_path, flash_dir, step
):
    old_folder, new_folder = two_identities(tmp_path)
    deploy(fat_board.port, old_folder, reset=False, log=quiet)

    def cut(at):
        if at == step:
            fat_board.power_cut()
            raise PowerCut

    mark = len(fat_board.output())
    with pytest.raises(PowerCut):
        deploy(fat_board.port, new_folder, log=quiet, _after_switch_step=cut)
    # the board boots main.py: the agent reads config.json, finishing or undoing the switch
    assert fat_board.wait_for_output("agent: ", timeout=30, start=mark), fat_board.output()[mark:]
    deadline = time.monotonic() + 10
    while (flash_dir / "config.json.old").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "cannot read" not in fat_board.output()[mark:]
    assert not (flash_dir / "config.json.old").exists()
    assert_consistent_credentials(flash_dir, new_folder if COMMITTED.get(step) else old_folder)
    if step == "moved aside":
        assert (
            "agent: finished the config.json switch a power cut interrupted"
            in (fat_board.output()[mark:])
        )


def test_closing_a_port_the_watchdog_closed_first_is_quiet():
    # The race behind a CI failure: the watchdog closed the port while mpremote gave up on its
    # own; mpremote's close() then cleared RTS on the closed port and raised TypeError, not the
    # one-line "ignores Ctrl-C" error.
    import os

    from mpremote.transport_serial import SerialTransport

    controller, device = os.openpty()
    try:
        for close in (SerialTransport.close, ports_module.transport_close):
            transport = SerialTransport(os.ttyname(device), baudrate=115200, timeout=0.1)
            port = transport.serial
            clear_rts = port._update_rts_state

            def watchdog_fires_meanwhile(port=port, clear_rts=clear_rts):
                port.close()  # PortWatchdog's thread, between close()'s check and its ioctl
                clear_rts()

            port._update_rts_state = watchdog_fires_meanwhile
            if close is SerialTransport.close:
                with pytest.raises(TypeError):
                    close(transport)  # mpremote's own
            else:
                close(transport)  # ours: quiet
    finally:
        os.close(controller)
        os.close(device)
