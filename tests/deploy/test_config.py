"""`config`: config.json version 1, validated on the host, written atomically."""

import json
import subprocess
import sys

import pytest

from host_tools.deploy import build_config, read_config, write_config
from host_tools.deploy.device_config import validate_config
from host_tools.errors import UserError


def with_wifi(args):
    # config needs a Wi-Fi choice; tests about other options make the board online by itself
    return args if {"--wifi-ssid", "--no-wifi"} & set(args) else (*args, "--no-wifi")


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "host_tools", "config", *with_wifi(args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_cli_writes_version_1_fields(tmp_path):
    result = run_cli(
        str(tmp_path / "dev"), "--hub-host", "myhub.azure-devices.net", "--device-id", "sensor-001"
    )
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "dev" / "config.json").read_text())
    assert config == {
        "hub_host": "myhub.azure-devices.net",
        "hub_port": 8883,
        "device_id": "sensor-001",
        "cert_file": "certs/device.crt.der",
        "key_file": "certs/device.key.der",
        "sas_key": None,
        "trust_file": "certs/trust.pem",
        "wifi_ssid": "",
        "wifi_password": "",
        "telemetry_interval_s": 60,
        "keepalive_s": 60,
        "model_id": None,
    }


def test_config_sas_key_replaces_certificate_files(tmp_path):
    config = build_config("h.azure-devices.net", "d1", sas_key="c2VjcmV0a2V5MTIzNDU2Nzg=")
    assert config["cert_file"] is None and config["key_file"] is None


@pytest.mark.parametrize(
    "host, port, message",
    [
        ("https://h.azure-devices.net", 8883, "bare host name"),
        ("h.azure-devices.net", 70000, "hub_port must be between 1 and 65535, got 70000"),
        ("", 8883, "hub_host is missing"),
    ],
)
def test_config_invalid_values_refused_with_one_line(host, port, message):
    with pytest.raises(UserError, match=message):
        build_config(host, "d1", port)


def test_config_cli_invalid_device_id_exits_2_naming_the_character(tmp_path):
    result = run_cli(str(tmp_path), "--hub-host", "h", "--device-id", "bad id")
    assert result.returncode == 2
    assert result.stderr.startswith("error: config.json: device_id 'bad id' is not valid:")
    assert "' '" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "config.json").exists()


def test_config_cli_bad_sas_key_exits_2(tmp_path):
    result = run_cli(str(tmp_path), "--hub-host", "h", "--device-id", "d", "--sas-key", "%%%")
    assert result.returncode == 2
    # after the warning that --sas-key shows in `ps`
    assert result.stderr.splitlines()[1:] == [
        "error: config.json: sas_key is not a base64 device key"
    ]


def test_write_config_leaves_no_temporary_file(tmp_path):
    write_config(tmp_path, build_config("h", "d1"))
    write_config(tmp_path, build_config("h", "d2"))
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
    assert read_config(tmp_path)["device_id"] == "d2"


@pytest.fixture(scope="module")
def issuing_ca(tmp_path_factory):
    """An intermediate CA under a root: its devices connect only by presenting it."""
    from host_tools.certs import create_ca

    base = tmp_path_factory.mktemp("pki")
    create_ca(base / "root")
    create_ca(base / "issuing", parent_dir=base / "root")
    return base / "issuing"


def test_config_cli_ca_signed_folder_defaults_to_the_chain(tmp_path, issuing_ca):
    from host_tools.certs import create_device_cert

    create_device_cert("sensor-001", tmp_path / "dev" / "certs", ca_dir=issuing_ca)
    args = ("--hub-host", "h.azure-devices.net", "--device-id", "sensor-001")
    result = run_cli(str(tmp_path / "dev"), *args)
    assert result.returncode == 0, result.stderr
    assert read_config(tmp_path / "dev")["cert_file"] == "certs/chain.pem"


def test_build_config_self_signed_folder_keeps_the_leaf(tmp_path):
    from host_tools.certs import create_device_cert

    create_device_cert("sensor-001", tmp_path / "certs", self_signed=True)
    config = build_config("h.azure-devices.net", "sensor-001", device_dir=tmp_path)
    assert config["cert_file"] == "certs/device.crt.der"


def test_build_config_explicit_cert_file_wins_over_the_chain(tmp_path, issuing_ca):
    from host_tools.certs import create_device_cert

    create_device_cert("sensor-001", tmp_path / "certs", ca_dir=issuing_ca)
    config = build_config(
        "h.azure-devices.net", "sensor-001", device_dir=tmp_path, cert_file="certs/device.crt.der"
    )
    assert config["cert_file"] == "certs/device.crt.der"


def test_fleet_flash_staged_folder_ships_the_chain(tmp_path, issuing_ca):
    from host_tools.certs import load_certificates, mint_fleet
    from host_tools.deploy.fleet import load_manifest, stage_device_folder

    minted = mint_fleet(issuing_ca, 1, "fleet-", tmp_path / "fleet", progress=False)
    base, (row,) = load_manifest(minted.manifest_json)
    trust = tmp_path / "trust.pem"
    trust.write_bytes((issuing_ca / "ca.crt.pem").read_bytes())
    folder = stage_device_folder(base, row, tmp_path / "stage", trust, {"hub_host": "h"})
    config = read_config(folder)
    assert config["cert_file"] == "certs/chain.pem"
    assert len(load_certificates(folder / "certs" / "chain.pem")) == 3  # leaf, issuing, root


KEY = "c2VjcmV0a2V5MTIzNDU2Nzg="  # base64 of 16 bytes
HOST = ("--hub-host", "h.azure-devices.net", "--device-id", "d1")


def run_cli_env(*args, env=None):
    import os

    return subprocess.run(
        [sys.executable, "-m", "host_tools", "config", *with_wifi(args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_config_cli_sas_key_file_reads_key_and_warns_nothing(tmp_path):
    key_file = tmp_path / "sas.key"
    key_file.write_text(KEY + "\n")
    result = run_cli(str(tmp_path / "dev"), *HOST, "--sas-key-file", str(key_file))
    assert result.returncode == 0 and result.stderr == ""
    assert read_config(tmp_path / "dev")["sas_key"] == KEY


def test_config_cli_sas_key_from_environment(tmp_path):
    result = run_cli_env(str(tmp_path / "dev"), *HOST, env={"IOTHUB_SAS_KEY": KEY})
    assert result.returncode == 0
    # not on the command line: said once, so an export meant for another device is noticed
    assert result.stderr == (
        "note: IOTHUB_SAS_KEY is set: this device gets a SAS key (unset it for X.509)\n"
    )
    assert read_config(tmp_path / "dev")["sas_key"] == KEY


def test_config_cli_sas_key_option_still_works_with_a_warning(tmp_path):
    result = run_cli(str(tmp_path / "dev"), *HOST, "--sas-key", KEY)
    assert result.returncode == 0
    assert result.stderr == (
        "warning: --sas-key is visible to every user in `ps` and stays in your shell history; "
        "use --sas-key-file PATH or IOTHUB_SAS_KEY\n"
    )
    assert read_config(tmp_path / "dev")["sas_key"] == KEY


def test_config_cli_sas_key_file_missing_one_line(tmp_path):
    result = run_cli(str(tmp_path / "dev"), *HOST, "--sas-key-file", str(tmp_path / "nope"))
    assert result.returncode == 2
    assert result.stderr == (
        f"error: --sas-key-file {tmp_path / 'nope'}: No such file or directory; check the path\n"
    )


@pytest.mark.parametrize(
    "values, message",
    [
        ({"sas_key": 1234567890123456}, "sas_key must be a string, got a int"),
        ({"wifi_password": 12345678}, "wifi_password must be a string, got a int"),
        ({"sas_ttl_s": 86401}, "sas_ttl_s must be between 60 and 86400, got 86401"),
        ({"telemetry_interval_s": 86400 * 7}, "telemetry_interval_s must be between 0.01 and"),
    ],
)
def test_validate_config_refuses_what_the_firmware_refuses_without_echoing_secrets(values, message):
    config = build_config("h.azure-devices.net", "d1")
    if "sas_key" in values:
        config.update(cert_file=None, key_file=None)
    config.update(values)
    with pytest.raises(UserError) as caught:
        validate_config(config)
    assert str(caught.value).startswith(f"config.json: {message}")
    assert "12345678" not in str(caught.value)


def test_config_cli_without_a_wifi_choice_refused_naming_both_ways(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "host_tools", "config", str(tmp_path / "dev"), *HOST],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--wifi-ssid NAME" in result.stderr and "--no-wifi" in result.stderr
    assert not (tmp_path / "dev" / "config.json").exists()


def test_config_cli_wifi_ssid_and_password_file_land_in_config(tmp_path):
    secret = tmp_path / "wifi.txt"
    secret.write_text("hunter22\n")
    result = run_cli(
        str(tmp_path / "dev"), *HOST, "--wifi-ssid", "Lab", "--wifi-password-file", str(secret)
    )
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "dev" / "config.json").read_text())
    assert (config["wifi_ssid"], config["wifi_password"]) == ("Lab", "hunter22")


def test_fleet_flash_without_a_wifi_choice_refused_before_any_board(tmp_path):
    # it used to report `ok` for boards that then waited for a network forever
    result = subprocess.run(
        [sys.executable, "-m", "host_tools", "fleet", "flash", str(tmp_path / "manifest.json")]
        + ["--ports", "/dev/ttyUSB0", "--hub-host", "h.azure-devices.net", "--trust", "t.pem"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "no Wi-Fi network given" in result.stderr
