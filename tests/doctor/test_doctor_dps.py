"""`doctor` on a board provisioned by DPS: its config.json names no hub and no device id."""

import json
import shutil

import pytest

from host_tools.deploy import build_config, deploy, write_config
from host_tools.doctor import has_failure, run_doctor

DPS = {"id_scope": "0ne00ABC123", "registration_id": "dev-dps", "endpoint": "dps.localhost"}


def quiet(_line):
    pass


def by_check(results):
    return {result.check: result for result in results}


@pytest.fixture
def dps_deployed(tmp_path, board, hub, flash_dir):
    """dev-dps (self-signed, CN = its registration id) deployed with a dps section."""
    from host_tools.certs import create_device_cert

    folder = tmp_path / "dev-dps"
    create_device_cert("dev-dps", folder / "certs", self_signed=True)
    shutil.copyfile(hub.ca_file, folder / "certs" / "trust.pem")
    config = build_config(
        dps=dict(DPS), device_dir=folder, wifi_ssid="virtual-ap", outbox_dir="spool"
    )
    write_config(folder, config)
    start = len(board.output())
    deploy(board.port, folder, log=quiet, reset=False)
    # as tests/doctor/conftest.py's `deployed`: let main.py's agent start before the doctor
    assert board.wait_for_output("agent: ", timeout=20, start=start)
    return board


def test_doctor_dps_device_not_registered_yet_says_the_hub_is_not_known(dps_deployed, hub):
    results = run_doctor(dps_deployed.port, hub_data=hub.data_dir, connect=False)
    print("\n".join(r.line() for r in results))
    checks = by_check(results)
    assert checks["config.json"].detail == (
        "dev-dps provisioned by DPS, id scope 0ne00ABC123 (X.509)"
    )
    assert checks["provisioning"].detail == (
        "provisioned by DPS dps.localhost:8883, id scope 0ne00ABC123: the hub is not known until "
        "the board registers"
    )
    assert checks["certificate CN"].detail == "'dev-dps' = dps.registration_id"
    assert checks["trust bundle"].status == "pass"  # the emulator's DPS shares the hub's CA
    assert "hub address" not in checks and "registration" not in checks
    assert not has_failure(results)


def test_doctor_dps_device_registered_names_the_assigned_hub(dps_deployed, hub, flash_dir):
    record = {
        "id_scope": DPS["id_scope"],
        "registration_id": "dev-dps",
        "assigned_hub": "localhost",
        "device_id": "dev-dps",
    }
    (flash_dir / "provisioned.json").write_text(json.dumps(record))
    results = run_doctor(dps_deployed.port, hub_data=hub.data_dir, connect=False)
    assert by_check(results)["provisioning"].detail.endswith(
        "assigned dev-dps to localhost (provisioned.json)"
    )


def test_doctor_dps_device_without_hub_data_checks_azure_dps_roots(dps_deployed):
    # no --hub-data, no --hub-host: the board's first server is Azure's DPS endpoint (config.json
    # names the emulator's here), which presents Azure's public roots, missing from this bundle
    results = run_doctor(dps_deployed.port, connect=False)
    checks = by_check(results)
    assert checks["trust bundle"].status == "fail"
    assert "provisioning" in checks and "hub address" not in checks


def test_doctor_dps_device_connection_attempt_reports_a_line(dps_deployed, hub):
    # whatever the firmware's provisioning then does, the doctor reports it as one line
    results = run_doctor(dps_deployed.port, hub_data=hub.data_dir, timeout_s=5)
    print("\n".join(r.line() for r in results))
    connection = by_check(results)["connection"]
    assert connection.status in ("pass", "fail"), connection.line()
    assert "Traceback" not in connection.detail
