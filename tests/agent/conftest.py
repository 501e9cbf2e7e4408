"""End-to-end harness: the firmware on a board runtime against the hub emulator, over real TLS.

`runtime` runs each test twice: on the CPython emulated board (OpenSSL) and, compiled with
mpy-cross, on the MicroPython Unix port (mbedTLS). `make_device` writes a board's flash
(firmware + a test's own main.py + config.json + certs) and registers the device; `start`
boots it on the runtime under test.
"""

import base64
import os

import pytest

from host_tools.board_flash import assemble_flash
from host_tools.certs import create_device_cert
from host_tools.emulated_board import run_emulated_board
from host_tools.hub.testing import running_hub
from host_tools.unix_port import run_unix_port

RUNTIMES = ["cpython-emulated", pytest.param("micropython-unix", marks=pytest.mark.micropython)]

# A test's main.py starts with this: the agent, quick retries, and one line when it is done.
MAIN_HEADER = """
import time
from agent import Agent
agent = Agent.from_config()
"""


@pytest.fixture(params=RUNTIMES)
def runtime(request):
    if request.param == "micropython-unix":
        request.getfixturevalue("micropython_bin")
    return request.param


@pytest.fixture
def hub(tmp_path):
    with running_hub(tmp_path / "hub") as handle:
        yield handle


class Device:
    """A device's flash folder on one runtime, registered with the hub (or not)."""

    def __init__(self, tmp_path, runtime, hub, device_id, auth, register, config):
        self.runtime = runtime
        self.hub = hub
        self.device_id = device_id
        self.flash = tmp_path / f"flash-{device_id}"
        files = {"certs/trust.pem": hub.ca_file.read_bytes()}
        values = {
            "hub_host": "localhost",
            "hub_port": hub.port,
            "device_id": device_id,
            "trust_file": "certs/trust.pem",
            "telemetry_interval_s": 3600,
            "keepalive_s": 60,
            "retry_min_s": 0.2,
            "retry_max_s": 1,
            "retry_auth_s": 1,
            "watchdog_s": 0,
            "wifi_ssid": "emulated-lan",
            "wifi_password": "secret",
        }
        self.identity = None
        if auth in ("x509", "both"):
            self.identity = create_device_cert(
                device_id, tmp_path / f"id-{device_id}", self_signed=True
            )
            files["certs/device.crt.der"] = self.identity.cert_der.read_bytes()
            files["certs/device.key.der"] = self.identity.key_der.read_bytes()
            values["cert_file"] = "certs/device.crt.der"
            values["key_file"] = "certs/device.key.der"
            if register:
                hub.register_x509(device_id, self.identity.sha256)
        if auth in ("sas", "both"):
            self.sas_key = base64.b64encode(os.urandom(32)).decode()
            values["sas_key"] = self.sas_key
            if register:
                hub.register_sas(device_id, self.sas_key)
        values.update(config)
        files["config.json"] = values
        self.files = files
        self.board = None

    def write_flash(self, main_py):
        """The flash for this runtime: .py on CPython, .mpy (mpy-cross) on the Unix port."""
        assemble_flash(
            self.flash, self.files, mpy=self.runtime == "micropython-unix", main_py=main_py
        )
        return self.flash

    def start(self, main_py=None, heapsize=None, env=None):
        if main_py is not None or not (self.flash / "main.py").exists():
            self.write_flash(main_py if main_py is not None else MAIN_HEADER + "agent.run()\n")
        if self.runtime == "micropython-unix":
            self.board = run_unix_port(self.flash, heapsize=heapsize, env=env)
        else:
            self.board = run_emulated_board(self.flash, env=env)
        return self.board

    def stop(self):
        if self.board is not None and self.board.running():
            self.board.kill()


@pytest.fixture
def make_device(tmp_path, runtime, hub):
    devices = []

    def make(device_id="dev-1", auth="x509", register=True, **config):
        device = Device(tmp_path, runtime, hub, device_id, auth, register, config)
        devices.append(device)
        return device

    yield make
    for device in devices:
        device.stop()
