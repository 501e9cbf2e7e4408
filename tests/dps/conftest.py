"""A hub serving DPS too, SDK connections routed to its ports, and device credentials."""

import socket

import paho.mqtt.client as paho
import pytest

from host_tools import certs
from host_tools.hub.testing import running_hub


@pytest.fixture
def hub(tmp_path):
    with running_hub(tmp_path / "hub", dps=True) as handle:
        yield handle


@pytest.fixture
def sdk_routes(hub, monkeypatch):
    """The SDK dials port 8883 on the host name: send each name to its emulator port.

    The TLS check still uses the real host name (paho wraps the socket with it), so the server
    certificate must name the DPS host as well as the hub's.
    """
    routes = {hub.dps.host_name: hub.dps.port, hub.host_name: hub.port}

    def create_socket_connection(self):
        port = routes.get(self._host) if self._port == 8883 else None
        if port is None:
            raise AssertionError(f"unexpected SDK connection to {self._host}:{self._port}")
        return socket.create_connection(("127.0.0.1", port), timeout=self._connect_timeout)

    monkeypatch.setattr(paho.Client, "_create_socket_connection", create_socket_connection)
    return routes


@pytest.fixture(scope="session")
def credentials(tmp_path_factory):
    root = tmp_path_factory.mktemp("dps-credentials")
    ca = certs.create_ca(root / "ca", common_name="DPS test root CA")
    other_ca = certs.create_ca(root / "other-ca", common_name="Unverified CA")
    return {
        "root": root,
        "ca": ca,
        "ca_dir": root / "ca",
        "other_ca": other_ca,
        "other_ca_dir": root / "other-ca",
        "self_signed": certs.create_device_cert("dps-self", root / "dps-self", self_signed=True),
        "ca_signed": certs.create_device_cert("dps-ca-1", root / "dps-ca-1", ca_dir=root / "ca"),
    }
