"""`config --dps-id-scope` and `fleet flash --dps-id-scope`: config.json with a dps section.

The board asks DPS for its hub and device id, so the host writes neither; what it checks is the
registration id (DPS's rules; for X.509 the certificate's CN) and the device key of a group
enrollment, derived here so that the group key never reaches a board.
"""

import json
import os
import subprocess
import sys

import pytest

from host_tools.deploy import build_config, read_config, write_config
from host_tools.dps.topics import sas_derive_device_key
from host_tools.errors import UserError
from host_tools.firmware_config import firmware_config

SCOPE = "0ne00ABC123"
GROUP_KEY = "c2VjcmV0Z3JvdXBrZXkxMjM0NTY3ODkwYWJjZGVm"  # base64 of 30 bytes


def run_cli(*args, env=None, command=("config",)):
    wifi = () if {"--wifi-ssid", "--no-wifi"} & set(args) else ("--no-wifi",)
    return subprocess.run(
        [sys.executable, "-m", "host_tools", *command, *args, *wifi],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def written(folder) -> dict:
    return json.loads((folder / "config.json").read_text())


def one_error_line(result) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def issuing_ca(tmp_path_factory):
    from host_tools.certs import create_ca

    base = tmp_path_factory.mktemp("pki")
    create_ca(base / "root")
    create_ca(base / "issuing", parent_dir=base / "root")
    return base / "issuing"


@pytest.fixture
def ca_signed_folder(tmp_path, issuing_ca):
    from host_tools.certs import create_device_cert

    folder = tmp_path / "dev"
    create_device_cert("sensor-101", folder / "certs", ca_dir=issuing_ca)
    return folder


# -- config --dps-id-scope, X.509 -------------------------------------------------------------
def test_config_cli_dps_x509_registration_id_is_the_certificate_cn(ca_signed_folder):
    result = run_cli(str(ca_signed_folder), "--dps-id-scope", SCOPE)
    assert result.returncode == 0, result.stderr
    config = written(ca_signed_folder)
    assert "hub_host" not in config and "device_id" not in config
    assert config["dps"] == {
        "id_scope": SCOPE,
        "registration_id": "sensor-101",
        "endpoint": "global.azure-devices-provisioning.net",
        "port": 8883,
        "payload": None,
    }
    assert config["cert_file"] == "certs/chain.pem"  # DPS, like the hub, needs the intermediates
    values = firmware_config().config_validate(config)  # what the board runs at boot
    assert (values["auth"], values["hub_host"], values["device_id"]) == ("x509", None, "sensor-101")


def test_config_cli_dps_self_signed_cn_taken_from_the_leaf(tmp_path):
    from host_tools.certs import create_device_cert

    create_device_cert("sensor-102", tmp_path / "dev" / "certs", self_signed=True)
    result = run_cli(str(tmp_path / "dev"), "--dps-id-scope", SCOPE)
    assert result.returncode == 0, result.stderr
    assert written(tmp_path / "dev")["dps"]["registration_id"] == "sensor-102"


def test_config_cli_dps_registration_id_other_than_the_cn_refused(ca_signed_folder):
    result = run_cli(str(ca_signed_folder), "--dps-id-scope", SCOPE, "--registration-id", "other")
    line = one_error_line(result)
    assert "dps.registration_id is 'other' but certs/chain.pem is issued to CN 'sensor-101'" in line
    assert "--registration-id" in line
    assert not (ca_signed_folder / "config.json").exists()


def test_config_cli_dps_x509_without_a_certificate_asks_for_one(tmp_path):
    line = one_error_line(run_cli(str(tmp_path / "dev"), "--dps-id-scope", SCOPE))
    assert "take the registration id from" in line and "--registration-id ID" in line


def test_config_cli_dps_endpoint_port_and_payload_land_in_the_section(ca_signed_folder):
    result = run_cli(
        str(ca_signed_folder),
        "--dps-id-scope",
        SCOPE,
        "--dps-endpoint",
        "dps.localhost",
        "--dps-port",
        "8884",
        "--dps-payload",
        '{"site": "lab", "floor": 2}',
        "--hub-port",
        "8885",
    )
    assert result.returncode == 0, result.stderr
    config = written(ca_signed_folder)
    assert config["dps"]["endpoint"] == "dps.localhost" and config["dps"]["port"] == 8884
    assert config["dps"]["payload"] == {"site": "lab", "floor": 2}
    assert config["hub_port"] == 8885  # the assigned hub's port


def test_config_cli_dps_payload_not_json_refused_with_one_line(ca_signed_folder):
    args = ("--dps-id-scope", SCOPE, "--dps-payload", "{site: lab}")
    line = one_error_line(run_cli(str(ca_signed_folder), *args))
    assert line.startswith("error: --dps-payload is not JSON (")
    assert not (ca_signed_folder / "config.json").exists()


@pytest.mark.parametrize(
    "args, words",
    [
        (("--dps-id-scope", "0ne 00"), "dps.id_scope must look like 0ne0012ABCD"),
        (("--dps-id-scope", SCOPE, "--dps-port", "0"), "dps.port must be a port number"),
        (("--dps-id-scope", SCOPE, "--dps-endpoint", "https://x"), "bare host name"),
    ],
)
def test_config_cli_dps_invalid_section_refused_with_the_firmwares_words(
    ca_signed_folder, args, words
):
    assert words in one_error_line(run_cli(str(ca_signed_folder), *args))


# -- which options go together ----------------------------------------------------------------
@pytest.mark.parametrize(
    "extra, named",
    [
        (("--hub-host", "h.azure-devices.net"), "--hub-host with --dps-id-scope"),
        (("--device-id", "sensor-101"), "--device-id with --dps-id-scope"),
        (("--hub-host", "h", "--device-id", "d"), "--hub-host and --device-id with --dps-id-scope"),
    ],
)
def test_config_cli_dps_with_hub_host_or_device_id_refused(ca_signed_folder, extra, named):
    line = one_error_line(run_cli(str(ca_signed_folder), "--dps-id-scope", SCOPE, *extra))
    assert named in line and "DPS assigns the hub and the device id" in line


@pytest.mark.parametrize(
    "args, missing",
    [
        ((), "--hub-host and --device-id are required"),
        (("--hub-host", "h.azure-devices.net"), "--device-id is required"),
        (("--device-id", "d1"), "--hub-host is required"),
    ],
)
def test_config_cli_without_hub_or_dps_names_both_ways(tmp_path, args, missing):
    line = one_error_line(run_cli(str(tmp_path / "dev"), *args))
    assert missing in line and "--dps-id-scope SCOPE" in line


@pytest.mark.parametrize(
    "args, option",
    [
        (("--registration-id", "d1"), "--registration-id"),
        (("--dps-port", "8884"), "--dps-port"),
        (("--dps-payload", "{}"), "--dps-payload"),
        (("--dps-group-key", GROUP_KEY), "--dps-group-key"),
    ],
)
def test_config_cli_dps_options_without_scope_refused(tmp_path, args, option):
    hub = ("--hub-host", "h.azure-devices.net", "--device-id", "d1")
    line = one_error_line(run_cli(str(tmp_path / "dev"), *hub, *args))
    assert line.startswith(f"error: {option} describes DPS provisioning")


# -- symmetric keys: the device's own, or derived from a group key ----------------------------
def test_config_cli_dps_group_key_file_writes_the_derived_device_key_only(tmp_path):
    key_file = tmp_path / "group.key"
    key_file.write_text(GROUP_KEY + "\n")
    args = ("--dps-id-scope", SCOPE, "--registration-id", "sensor-201")
    result = run_cli(str(tmp_path / "dev"), *args, "--dps-group-key-file", str(key_file))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    config = written(tmp_path / "dev")
    assert config["sas_key"] == sas_derive_device_key(GROUP_KEY, "sensor-201")
    assert (config["cert_file"], config["key_file"]) == (None, None)
    assert config["dps"]["registration_id"] == "sensor-201"
    assert GROUP_KEY not in (tmp_path / "dev" / "config.json").read_text()
    assert firmware_config().config_validate(config)["auth"] == "sas"


def test_config_cli_dps_group_key_from_the_environment(tmp_path):
    args = ("--dps-id-scope", SCOPE, "--registration-id", "sensor-202")
    result = run_cli(str(tmp_path / "dev"), *args, env={"IOTHUB_DPS_GROUP_KEY": GROUP_KEY})
    assert result.returncode == 0, result.stderr
    # the key (never printed) came from the environment, not the command line: said once
    assert result.stderr == (
        "note: IOTHUB_DPS_GROUP_KEY is set: this device gets a SAS key (unset it for X.509)\n"
    )
    assert written(tmp_path / "dev")["sas_key"] == sas_derive_device_key(GROUP_KEY, "sensor-202")


def test_config_cli_dps_group_key_gives_the_key_dps_documents(tmp_path):
    # the example of DPS's "provision devices using symmetric key enrollment groups" guide (also
    # what `az iot dps enrollment-group compute-device-key --key ... --registration-id ...` prints)
    group_key = (
        "8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw=="
    )
    registration_id = "sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6"
    args = ("--dps-id-scope", SCOPE, "--registration-id", registration_id)
    result = run_cli(str(tmp_path / "dev"), *args, env={"IOTHUB_DPS_GROUP_KEY": group_key})
    assert result.returncode == 0, result.stderr
    assert written(tmp_path / "dev")["sas_key"] == "Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc="


def test_config_cli_dps_device_key_as_given_for_an_individual_enrollment(tmp_path):
    key = "c2VjcmV0a2V5MTIzNDU2Nzg="
    args = ("--dps-id-scope", SCOPE, "--registration-id", "sensor-301")
    result = run_cli(str(tmp_path / "dev"), *args, env={"IOTHUB_SAS_KEY": key})
    assert result.returncode == 0, result.stderr
    assert written(tmp_path / "dev")["sas_key"] == key


def test_config_cli_dps_sas_without_registration_id_refused(tmp_path):
    args = ("--dps-id-scope", SCOPE)
    line = one_error_line(
        run_cli(str(tmp_path / "dev"), *args, env={"IOTHUB_DPS_GROUP_KEY": GROUP_KEY})
    )
    assert "--registration-id ID is required with a SAS key" in line


@pytest.mark.parametrize("bad", ["not base64!", "QUJ", "%%%%"])
def test_config_cli_dps_group_key_not_base64_refused_without_echoing_it(tmp_path, bad):
    key_file = tmp_path / "group.key"
    key_file.write_text(bad + "\n")
    args = ("--dps-id-scope", SCOPE, "--registration-id", "s-1", "--dps-group-key-file")
    line = one_error_line(run_cli(str(tmp_path / "dev"), *args, str(key_file)))
    assert "the DPS group key is not base64" in line and bad not in line


def test_config_cli_dps_group_key_and_device_key_together_refused(tmp_path):
    args = ("--dps-id-scope", SCOPE, "--registration-id", "s-1")
    env = {"IOTHUB_DPS_GROUP_KEY": GROUP_KEY, "IOTHUB_SAS_KEY": "c2VjcmV0a2V5MTIzNDU2Nzg="}
    line = one_error_line(run_cli(str(tmp_path / "dev"), *args, env=env))
    assert "both given: pass one" in line


def test_config_cli_dps_registration_id_dps_refuses_named_with_its_rule(tmp_path):
    args = ("--dps-id-scope", SCOPE, "--registration-id", "sensor@1")
    line = one_error_line(run_cli(str(tmp_path / "dev"), *args, env={"IOTHUB_SAS_KEY": GROUP_KEY}))
    assert "dps.registration_id 'sensor@1' is not valid for DPS" in line


# -- the Python API: build, write, read -------------------------------------------------------
def test_build_config_dps_with_hub_host_refused():
    with pytest.raises(UserError, match="with a dps section DPS assigns hub_host and device_id"):
        build_config("h.azure-devices.net", dps={"id_scope": SCOPE, "registration_id": "d1"})


def test_read_config_dps_certificate_issued_again_for_another_cn_refused(
    ca_signed_folder, issuing_ca
):
    # deploy reads config.json with read_config: a certificate for another CN never ships
    from host_tools.certs import create_device_cert

    dps = {"id_scope": SCOPE, "registration_id": "sensor-101"}
    write_config(ca_signed_folder, build_config(dps=dps, device_dir=ca_signed_folder))
    assert read_config(ca_signed_folder)["dps"]["registration_id"] == "sensor-101"
    create_device_cert("sensor-999", ca_signed_folder / "certs", ca_dir=issuing_ca, force=True)
    with pytest.raises(UserError, match="issued to CN 'sensor-999'"):
        read_config(ca_signed_folder)


def test_rotate_dps_device_refused_before_touching_the_board(ca_signed_folder):
    from host_tools.deploy.rotate import rotate

    dps = {"id_scope": SCOPE, "registration_id": "sensor-101"}
    write_config(ca_signed_folder, build_config(dps=dps, device_dir=ca_signed_folder))
    with pytest.raises(UserError, match="is provisioned by DPS"):
        rotate("/dev/ttyUSB-missing", ca_signed_folder, hub=None)


# -- fleet flash --dps-id-scope ---------------------------------------------------------------
@pytest.fixture(scope="module")
def minted(tmp_path_factory, issuing_ca):
    from host_tools.certs import mint_fleet

    out = tmp_path_factory.mktemp("fleet")
    result = mint_fleet(issuing_ca, 2, "fleet-", out / "fleet", progress=False)
    trust = out / "trust.pem"
    trust.write_bytes((issuing_ca / "ca.crt.pem").read_bytes())
    return result, trust


def test_fleet_flash_dps_staged_folder_registers_with_its_cn(minted, tmp_path):
    from host_tools.deploy.fleet import load_manifest, stage_device_folder

    result, trust = minted
    base, rows = load_manifest(result.manifest_json)
    config = {"dps": {"id_scope": SCOPE, "endpoint": "dps.localhost"}, "wifi_ssid": "ap"}
    folder = stage_device_folder(base, rows[1], tmp_path / "stage", trust, config)
    written_config = read_config(folder)
    assert written_config["dps"]["registration_id"] == "fleet-0002"
    assert written_config["dps"]["endpoint"] == "dps.localhost"
    assert "hub_host" not in written_config and "device_id" not in written_config
    assert written_config["cert_file"] == "certs/chain.pem"


def test_fleet_flash_dps_boards_provision_themselves_with_nothing_registered_per_device(
    minted, issuing_ca, tmp_path, micropython_bin
):
    # one enrollment group on the fleet's CA, no device in the hub: each board registers with
    # DPS under its certificate's CN, and DPS creates it in the hub
    from host_tools.deploy.fleet import fleet_flash
    from host_tools.hub.testing import running_hub
    from host_tools.virtual_board import serve

    result, _ = minted
    flashes = [tmp_path / "b1", tmp_path / "b2"]
    for folder in flashes:
        folder.mkdir()
    lines = []
    with (
        running_hub(tmp_path / "hub", dps=True, dps_host_name="localhost") as hub,
        serve(flashes[0], micropython=micropython_bin) as b1,
        serve(flashes[1], micropython=micropython_bin) as b2,
    ):
        hub.register_ca("fleet-issuing", issuing_ca / "ca.crt.pem")
        hub.dps.group_x509("fleet", "fleet-issuing")
        assert hub.hub.registry.devices == {}
        dps = {"id_scope": hub.dps.id_scope, "endpoint": "localhost", "port": hub.dps.port}
        results = fleet_flash(
            result.manifest_json,
            [b1.port, b2.port],
            hub_host=None,
            dps=dps,
            hub_port=hub.port,
            trust_file=hub.ca_file,
            config_extra={"wifi_ssid": "virtual-ap", "outbox_dir": "spool"},
            log=lines.append,
        )
        assert [r.ok for r in results] == [True, True], lines
        for device_id in ("fleet-0001", "fleet-0002"):
            hub.wait_for_connection(device_id, timeout=30)
            assert hub.dps.registration(device_id)["status"] == "assigned"
    for flash, device_id in zip(flashes, ("fleet-0001", "fleet-0002"), strict=True):
        config = json.loads((flash / "config.json").read_text())
        assert "hub_host" not in config and "device_id" not in config
        assert config["dps"] == {**dps, "registration_id": device_id, "payload": None}
    assert lines[-1] == "2 of 2 board(s) deployed"


def test_fleet_flash_dps_invalid_scope_refused_before_any_board(minted):
    from host_tools.deploy.fleet import fleet_flash

    result, trust = minted
    with pytest.raises(UserError, match="fleet-0001's config.json: dps.id_scope must look like"):
        fleet_flash(
            result.manifest_json,
            ["/dev/ttyUSB-missing"],
            hub_host=None,
            dps={"id_scope": "0ne 00"},
            trust_file=trust,
            config_extra={"wifi_ssid": "ap"},
        )


@pytest.mark.parametrize(
    "where, words",
    [
        ((), "exactly one of them"),
        (("--hub-host", "h.azure-devices.net", "--dps-id-scope", SCOPE), "exactly one of them"),
        (("--hub-host", "h.azure-devices.net", "--dps-port", "8884"), "need --dps-id-scope"),
    ],
)
def test_fleet_flash_cli_hub_host_or_dps_id_scope_exactly_one(minted, where, words):
    result, trust = minted
    args = (str(result.manifest_json), "--ports", "/dev/ttyUSB-missing", "--trust", str(trust))
    line = one_error_line(run_cli(*args, *where, command=("fleet", "flash")))
    assert words in line


def test_fleet_flash_cli_dps_id_scope_reaches_the_boards_config(minted):
    # no board on the port: the run gets as far as the board, each config built and checked
    result, trust = minted
    args = (str(result.manifest_json), "--ports", "/dev/ttyUSB-missing", "--trust", str(trust))
    outcome = run_cli(*args, "--dps-id-scope", SCOPE, "--json", command=("fleet", "flash"))
    assert outcome.returncode == 1, outcome.stderr
    (board,) = json.loads(outcome.stdout)
    assert board["device_id"] == "fleet-0001" and "no board on" in board["message"]


def test_config_says_when_a_key_from_the_environment_makes_it_a_sas_device(
    tmp_path, monkeypatch, capsys
):
    import base64

    from host_tools.cli import main

    monkeypatch.setenv("IOTHUB_DPS_GROUP_KEY", base64.b64encode(b"k" * 32).decode())
    args = ["config", str(tmp_path / "d"), "--no-wifi"]
    assert main([*args, "--dps-id-scope", "0ne00A", "--registration-id", "reg-1"]) == 0
    written = json.loads((tmp_path / "d" / "config.json").read_text())
    assert written["sas_key"] and written["cert_file"] is None
    assert (
        "note: IOTHUB_DPS_GROUP_KEY is set: this device gets a SAS key" in capsys.readouterr().err
    )
    # not used without DPS: no note
    assert main([*args, "--hub-host", "h.azure-devices.net", "--device-id", "d1"]) == 0
    assert "IOTHUB_DPS_GROUP_KEY" not in capsys.readouterr().err
