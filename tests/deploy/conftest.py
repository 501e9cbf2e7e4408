"""Device folders, an application firmware that sends telemetry, the hub, virtual boards."""

import shutil

import pytest

from host_tools.certs import create_device_cert
from host_tools.deploy import build_config, write_config
from host_tools.hub.testing import running_hub
from host_tools.paths import FIRMWARE_DIR

# the application a user would write on top of the agent: telemetry every interval
APP_MAIN = """import time
from agent import Agent

agent = Agent.from_config()
agent.on_telemetry(lambda: {"uptime_ms": time.ticks_ms()})
agent.run()
"""


@pytest.fixture
def app_firmware(tmp_path):
    """The firmware with a main.py that sends telemetry (firmware/main.py only runs the agent)."""
    folder = tmp_path / "app_firmware"
    shutil.copytree(FIRMWARE_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "main.py").write_text(APP_MAIN)
    return folder


@pytest.fixture
def hub(tmp_path):
    with running_hub(tmp_path / "hub") as handle:
        yield handle


def make_device_folder(folder, device_id, hub_port, trust_pem, secondary=False, **config):
    """A device folder: a self-signed identity (plus secondary), trust.pem and config.json."""
    certs = folder / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    identity = create_device_cert(device_id, certs, self_signed=True)
    second = (
        create_device_cert(device_id, certs, self_signed=True, secondary=True)
        if secondary
        else None
    )
    shutil.copyfile(trust_pem, certs / "trust.pem")
    values = dict(
        wifi_ssid="virtual-ap",
        wifi_password="secret",
        telemetry_interval_s=0.5,
        outbox_dir="spool",  # a folder named like a module shadows it in MicroPython
    )
    values.update(config)
    write_config(folder, build_config("localhost", device_id, hub_port, **values))
    return identity, second


@pytest.fixture
def device(tmp_path, hub):
    """(device folder, identity, secondary identity) of dev-1, registered with its primary."""
    folder = tmp_path / "dev-1"
    identity, second = make_device_folder(folder, "dev-1", hub.port, hub.ca_file, secondary=True)
    hub.register_x509("dev-1", identity.sha1)
    return folder, identity, second


@pytest.fixture
def offline_device(tmp_path):
    """A device folder for tests that never connect (any PEM will do as the trust bundle)."""
    folder = tmp_path / "dev-offline"
    identity, _ = make_device_folder(folder, "dev-offline", 8883, _self_signed_pem(tmp_path))
    return folder, identity


def _self_signed_pem(tmp_path):
    out = tmp_path / "trust-src"
    files = create_device_cert("trust-anchor", out, self_signed=True)
    return files.cert_pem
