"""The `hub` fixture (a running emulator) and device credentials for the hub's tests."""

import pytest

from host_tools import certs
from host_tools.hub.testing import running_hub


@pytest.fixture
def hub(tmp_path):
    with running_hub(tmp_path / "hub") as handle:
        yield handle


@pytest.fixture(scope="session")
def credentials(tmp_path_factory):
    """A self-signed device, a verified-to-be CA and a CA-signed device, made once per session."""
    root = tmp_path_factory.mktemp("credentials")
    ca = certs.create_ca(root / "ca", common_name="Test device CA")
    return {
        "root": root,
        "ca": ca,
        "self_signed": certs.create_device_cert("dev-self", root / "dev-self", self_signed=True),
        "ca_signed": certs.create_device_cert("dev-ca", root / "dev-ca", ca_dir=root / "ca"),
    }
