"""`config`: config.json version 1, validated on the host, written atomically."""

import json
import subprocess
import sys

import pytest

from host_tools.deploy import build_config, read_config, write_config
from host_tools.errors import UserError


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "host_tools", "config", *args],
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
        ("h.azure-devices.net", 70000, "hub_port must be a port number"),
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
    assert result.stderr == "error: config.json: sas_key is not a base64 device key\n"


def test_write_config_leaves_no_temporary_file(tmp_path):
    write_config(tmp_path, build_config("h", "d1"))
    write_config(tmp_path, build_config("h", "d2"))
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
    assert read_config(tmp_path)["device_id"] == "d2"
