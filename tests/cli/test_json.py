"""`--json` where a command's output is data (docs/cli.md): stdout parses as JSON, progress goes
to stderr, and the text output without the flag stays as it was."""

import importlib
import json

import pytest

from host_tools.certs import create_ca
from host_tools.cli import main
from host_tools.deploy.deploy import DeployReport
from host_tools.deploy.flash import FlashReport
from host_tools.deploy.rotate import RotateReport


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def hub_data(tmp_path, capsys):
    """A stopped hub's state folder with one SAS device and one CA (the commands edit it)."""
    data = tmp_path / "hub"
    assert run(capsys, "hub", "register", "sensor-1", "--sas", "--data", data)[0] == 0
    create_ca(tmp_path / "ca", common_name="Contoso Devices CA")
    ca_cert = tmp_path / "ca" / "ca.crt.pem"
    assert run(capsys, "hub", "ca", "add", "contoso", ca_cert, "--data", data)[0] == 0
    return data


def test_hub_list_json_lists_the_devices(hub_data, capsys):
    code, out, _ = run(capsys, "hub", "list", "--data", hub_data, "--json")
    (device,) = json.loads(out)
    assert code == 0
    assert (device["deviceId"], device["status"]) == ("sensor-1", "enabled")
    assert device["authentication"]["type"] == "sas"
    assert device["cloudToDeviceMessageCount"] == 0
    _, text, _ = run(capsys, "hub", "list", "--data", hub_data)
    assert text == "sensor-1\tsas\tenabled\tc2d queued: 0\n"


def test_hub_ca_list_json_lists_the_certificates(hub_data, capsys):
    code, out, _ = run(capsys, "hub", "ca", "list", "--data", hub_data, "--json")
    (entry,) = json.loads(out)
    assert code == 0
    assert entry["name"] == "contoso"
    assert entry["properties"]["isVerified"] is False
    assert "Contoso Devices CA" in entry["properties"]["subject"]
    _, text, _ = run(capsys, "hub", "ca", "list", "--data", hub_data)
    assert text.startswith("contoso\tverified=False\t")


def _fake(monkeypatch, target: str, report):
    """Replace an API function with one that logs progress (print) and returns `report`."""
    module, name = target.rsplit(".", 1)

    def fake(*args, **kwargs):
        print("progress line")
        return report

    # by module object: host_tools.deploy's `deploy` function hides its `deploy` module
    monkeypatch.setattr(importlib.import_module(module), name, fake)


def test_flash_json_report_and_progress_on_stderr(monkeypatch, capsys):
    report = FlashReport("/dev/ttyUSB0", "esp32", "ESP32", "aa:bb", 0x1000, 1024, 2.5)
    _fake(monkeypatch, "host_tools.deploy.flash.flash", report)
    argv = ("flash", "--board", "esp32", "--port", "/dev/ttyUSB0", "--firmware", "fw.bin")
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0 and "progress line" in err
    assert json.loads(out) == {
        "port": "/dev/ttyUSB0",
        "board": "esp32",
        "chip": "ESP32",
        "mac": "aa:bb",
        "offset": 4096,
        "size": 1024,
        "seconds": 2.5,
    }
    code, out, err = run(capsys, *argv)
    assert out.splitlines() == [
        "progress line",
        "flashed 1024 bytes at 0x1000 on /dev/ttyUSB0 (ESP32, MAC aa:bb) in 2.5 s; verified",
    ]


def test_deploy_json_report(monkeypatch, capsys, tmp_path):
    report = DeployReport("/dev/pts/3", False, copied=["agent.mpy"], umqtt="1.4.0")
    _fake(monkeypatch, "host_tools.deploy.deploy.deploy", report)
    code, out, err = run(capsys, "deploy", tmp_path, "--port", "/dev/pts/3", "--json")
    data = json.loads(out)
    assert code == 0 and "progress line" in err
    assert (data["port"], data["copied"], data["umqtt"]) == ("/dev/pts/3", ["agent.mpy"], "1.4.0")


def test_rotate_json_report(monkeypatch, capsys, tmp_path):
    report = RotateReport("sensor-1", "OLD", "NEW", 1.5, 9.0)
    _fake(monkeypatch, "host_tools.deploy.rotate.rotate", report)
    argv = ("rotate", tmp_path, "--port", "/dev/pts/3", "--hub-data", tmp_path / "hub", "--json")
    code, out, err = run(capsys, *argv)
    assert code == 0 and "progress line" in err
    assert json.loads(out) == {
        "device_id": "sensor-1",
        "old_thumbprint": "OLD",
        "new_thumbprint": "NEW",
        "reconnect_seconds": 1.5,
        "seconds": 9.0,
    }
