"""`rotate` against the hub: only a connection made with the NEW certificate retires the old one.

The board is replaced by a fake `deploy` that connects as a board (or a second board, or a
race) would; the hub, its connection log and both admin transports are real.
"""

import threading
import time

import pytest

from host_tools import certs
from host_tools.deploy import rotate as rotate_module
from host_tools.deploy.device_config import build_config, write_config
from host_tools.deploy.rotate import HandleHubAdmin, HttpHubAdmin, rotate
from host_tools.errors import UserError
from tests.hub.device import Device


@pytest.fixture
def device_folder(tmp_path, hub):
    folder = tmp_path / "dev-rot"
    identity = certs.create_device_cert("dev-rot", folder / "certs", self_signed=True)
    second = certs.create_device_cert("dev-rot", folder / "certs", self_signed=True, secondary=True)
    (folder / "certs" / "trust.pem").write_bytes(hub.ca_file.read_bytes())
    write_config(folder, build_config("localhost", "dev-rot", hub.port, wifi_ssid="ap"))
    hub.register_x509("dev-rot", identity.sha1)
    return folder, identity, second


def connect_as(hub, files):
    device = Device(hub, "dev-rot", files.cert_pem, files.key_pem)
    assert device.connect().return_code == 0
    return device


def registered_thumbprints(hub) -> dict:
    return hub.hub.registry.describe("dev-rot")["authentication"]["x509Thumbprint"]


def admins(hub):
    return {"handle": HandleHubAdmin(hub), "http": HttpHubAdmin(hub.data_dir)}


@pytest.mark.parametrize("transport", ["handle", "http"])
def test_rotate_connection_with_old_certificate_does_not_retire_it(
    hub, device_folder, monkeypatch, transport
):
    folder, identity, second = device_folder
    devices = []

    def deploy_but_old_board_reconnects(port, device_dir, **options):
        devices.append(connect_as(hub, identity))  # another board still on the old identity

    monkeypatch.setattr(rotate_module, "deploy", deploy_but_old_board_reconnects)
    with pytest.raises(UserError, match="did not reconnect .* with the new certificate"):
        rotate("virtual", folder, admins(hub)[transport], timeout=2, log=lambda _line: None)
    prints = registered_thumbprints(hub)
    assert prints["primaryThumbprint"] == identity.sha1.upper()  # still accepted
    assert prints["secondaryThumbprint"] == second.sha1.upper()
    assert (folder / "certs" / "secondary.crt.der").exists()  # host files untouched


@pytest.mark.parametrize("transport", ["handle", "http"])
def test_rotate_waits_for_new_certificate_then_retires_old(
    hub, device_folder, monkeypatch, transport
):
    folder, identity, second = device_folder
    devices = []

    def deploy_then_new_board_connects_late(port, device_dir, **options):
        devices.append(connect_as(hub, identity))  # a race: the old identity connects first

        def later():
            time.sleep(0.8)
            devices.append(connect_as(hub, second))

        threading.Thread(target=later, daemon=True).start()

    monkeypatch.setattr(rotate_module, "deploy", deploy_then_new_board_connects_late)
    report = rotate("virtual", folder, admins(hub)[transport], timeout=20, log=lambda _line: None)
    assert report.reconnect_seconds >= 0.8
    prints = registered_thumbprints(hub)
    assert prints == {"primaryThumbprint": second.sha1.upper(), "secondaryThumbprint": None}
