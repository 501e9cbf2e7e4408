"""The real deploy path end to end: stock mpremote -> virtual board (Unix port, mbedTLS) -> hub."""

import json
import sys
import time

import pytest

from host_tools.deploy import deploy
from host_tools.deploy.fleet import fleet_flash
from host_tools.deploy.rotate import HandleHubAdmin, rotate
from host_tools.errors import UserError
from tests.deploy.conftest import APP_MAIN


def quiet(_line):
    pass


def accepted(hub, device_id):
    return sum(1 for e in hub.connection_log if e.event == "accepted" and e.device_id == device_id)


def test_deploy_reset_agent_connects_with_deployed_identity_and_telemetry_arrives(
    board, device, hub, app_firmware
):
    folder, identity, _ = device
    started = time.monotonic()
    report = deploy(board.port, folder, firmware_dir=app_firmware, log=quiet)
    assert report.reset
    messages = hub.wait_for_telemetry(2, device_id="dev-1", timeout=30)
    elapsed = time.monotonic() - started
    assert json.loads(messages[0].body)["uptime_ms"] >= 0
    assert "agent: connected to localhost:" in board.output()
    assert "as dev-1 (x509)" in board.output()
    assert elapsed < 30


def test_power_cut_mid_credential_copy_board_reconnects_with_old_identity(
    board, device, hub, app_firmware, tmp_path, monkeypatch
):
    deploy_module = sys.modules["host_tools.deploy.deploy"]
    from tests.deploy.conftest import make_device_folder

    monkeypatch.setattr(deploy_module, "FILE_TIMEOUT", 3.0)

    folder, identity, _ = device
    deploy(board.port, folder, firmware_dir=app_firmware, log=quiet)
    hub.wait_for_telemetry(1, device_id="dev-1", timeout=30)
    # a new identity the hub does not know: if the board ever used it, it would be refused
    new_folder = tmp_path / "dev-1-new"
    make_device_folder(new_folder, "dev-1", hub.port, hub.ca_file)

    def pull_the_plug(path):
        board.power_cut()
        time.sleep(0.3)

    before = accepted(hub, "dev-1")
    count = len(hub.telemetry("dev-1"))
    with pytest.raises(UserError, match="stopped answering during deploy"):
        deploy(
            board.port,
            new_folder,
            firmware_dir=app_firmware,
            log=quiet,
            _after_credential_copy=pull_the_plug,
        )
    hub.wait_for_telemetry(count + 1, device_id="dev-1", timeout=30)
    assert accepted(hub, "dev-1") > before
    assert hub.refusals("dev-1") == []


def test_rotate_switches_to_secondary_without_refusal_and_retires_old(
    board, device, hub, app_firmware, flash_dir
):
    folder, identity, second = device
    deploy(board.port, folder, main=app_firmware / "main.py", log=quiet)
    hub.wait_for_telemetry(1, device_id="dev-1", timeout=30)
    new_cert = second.cert_der.read_bytes()
    lines = []
    # the plain firmware: rotate must keep the application the board runs as main.py
    report = rotate(board.port, folder, HandleHubAdmin(hub), log=lines.append)
    assert (flash_dir / "main.py").read_text() == APP_MAIN
    assert report.old_thumbprint == identity.sha1 and report.new_thumbprint == second.sha1
    auth = hub.hub.registry.describe("dev-1")["authentication"]
    assert json.dumps(auth).upper().count(second.sha1.upper()) == 1
    assert identity.sha1.upper() not in json.dumps(auth).upper()
    # the host folder now holds the new identity as device.*, the old one as retired.*
    assert (folder / "certs" / "device.crt.der").read_bytes() == new_cert
    assert (folder / "certs" / "retired.crt.der").exists()
    assert not (folder / "certs" / "secondary.crt.der").exists()
    # after a power cycle the board still connects: it really uses the new certificate
    count = len(hub.telemetry("dev-1"))
    board.power_cut()
    hub.wait_for_telemetry(count + 2, device_id="dev-1", timeout=30)
    assert hub.refusals("dev-1") == []


def test_fleet_flash_two_boards_own_identities_failed_port_does_not_stop_others(
    tmp_path, hub, micropython_bin
):
    from host_tools.certs import create_ca, mint_fleet
    from host_tools.virtual_board import serve

    ca = create_ca(tmp_path / "ca", "fleet test CA")
    minted = mint_fleet(tmp_path / "ca", 3, "fleet-", tmp_path / "fleet", progress=False)
    hub.register_ca("fleet", ca.cert_pem)
    for row in minted.devices:
        hub.register_x509_ca(row["device_id"])
    flashes = [tmp_path / "b1", tmp_path / "b2"]
    for f in flashes:
        f.mkdir()
    lines = []
    with (
        serve(flashes[0], micropython=micropython_bin) as b1,
        serve(flashes[1], micropython=micropython_bin) as b2,
    ):
        results = fleet_flash(
            minted.manifest_json,
            [b1.port, "/dev/ttyUSB-missing", b2.port],
            hub_host="localhost",
            hub_port=hub.port,
            trust_file=hub.ca_file,
            config_extra={"wifi_ssid": "virtual-ap", "outbox_dir": "spool"},
            log=lines.append,
        )
        assert [r.ok for r in results] == [True, False, True]
        assert "no board on /dev/ttyUSB-missing" in results[1].message
        hub.wait_for_connection("fleet-0001", timeout=30)
        hub.wait_for_connection("fleet-0003", timeout=30)
    assert json.loads((flashes[0] / "config.json").read_text())["device_id"] == "fleet-0001"
    assert json.loads((flashes[1] / "config.json").read_text())["device_id"] == "fleet-0003"
    assert lines[-1] == "2 of 3 board(s) deployed"
    assert any("FAILED: no board on /dev/ttyUSB-missing" in line for line in lines)


def test_rotate_ca_signed_device_keeps_its_chain_and_its_ca_registration(
    board, hub, app_firmware, flash_dir, tmp_path
):
    # issued by an intermediate, only the root registered: the board must present the chain
    import shutil

    from host_tools.certs import create_ca, create_device_cert
    from host_tools.deploy import build_config, write_config

    create_ca(tmp_path / "root", "Fleet root")
    create_ca(tmp_path / "issuing", "Fleet issuing", parent_dir=tmp_path / "root")
    hub.register_ca("fleet-root", (tmp_path / "root" / "ca.crt.pem").read_text())
    hub.register_x509_ca("dev-ca")
    folder = tmp_path / "dev-ca"
    certs = folder / "certs"
    first = create_device_cert("dev-ca", certs, ca_dir=tmp_path / "issuing")
    second = create_device_cert("dev-ca", certs, ca_dir=tmp_path / "issuing", secondary=True)
    shutil.copyfile(hub.ca_file, certs / "trust.pem")
    values = dict(wifi_ssid="virtual-ap", wifi_password="secret", telemetry_interval_s=0.5)
    write_config(
        folder,
        build_config(
            "localhost", "dev-ca", hub.port, device_dir=folder, outbox_dir="spool", **values
        ),
    )
    deploy(board.port, folder, main=app_firmware / "main.py", log=quiet)
    hub.wait_for_telemetry(1, device_id="dev-ca", timeout=30)
    report = rotate(board.port, folder, HandleHubAdmin(hub), log=quiet)
    assert report.old_thumbprint == first.sha1 and report.new_thumbprint == second.sha1
    auth = hub.hub.registry.describe("dev-ca")["authentication"]
    assert auth["type"] == "certificateAuthority", auth  # not turned into a thumbprint device
    config = json.loads((flash_dir / "config.json").read_text())
    assert config["cert_file"].endswith(".pem")  # the chain, not the bare leaf
    count = len(hub.telemetry("dev-ca"))
    board.power_cut()
    hub.wait_for_telemetry(count + 2, device_id="dev-ca", timeout=30)
    assert hub.refusals("dev-ca") == []
