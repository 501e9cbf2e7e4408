"""The hub's side of `doctor`: where the hub is, which roots it presents, what it would say.

Azure IoT Hub (`--hub-host`, or config.json's hub_host; with a dps section, Azure's DPS
endpoint): the two public roots pinned in host_tools/certs/trust.py; its registry is not
reachable from here. The emulator (`--hub-data`):
its CA file and address from DIR/hub.json, its registry through the service API
(hub/cli.py request()), and its verdict from the emulator's own CONNECT judge (hub/auth.py).
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.errors import UserError

AZURE_PORT = 8883
API_VERSION = "2021-04-12"


@dataclass
class HubTarget:
    """The hub a device should reach; `roots`: SHA-256 fingerprint -> name of each root."""

    label: str
    host_name: str | None
    port: int | None
    roots: dict = field(default_factory=dict)
    data_dir: Path | None = None  # the emulator's
    running: bool = True


def azure_target(host_name: str) -> HubTarget:
    from host_tools.certs.trust import AZURE_ROOTS

    names = {pin: name.removesuffix(".pem").replace("_", " ") for name, pin in AZURE_ROOTS.items()}
    return HubTarget(f"IoT Hub {host_name}", host_name, AZURE_PORT, names)


def dps_target(endpoint: str, port: int) -> HubTarget:
    """Azure's DPS endpoint: it presents the same public roots as IoT Hub."""
    target = azure_target(endpoint)
    target.label, target.port = f"DPS {endpoint}", port
    return target


def emulator_target(data_dir) -> HubTarget:
    """The emulator whose state is in `data_dir`, running or not (running=False)."""
    from host_tools.certs.certfiles import common_name, load_certificates, thumbprints
    from host_tools.hub.cli import running_hub_info
    from host_tools.hub.tls import CA_FILE

    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"--hub-data {data_dir}: no such folder; pass the emulator's --data DIR")
    info = running_hub_info(data_dir)
    ca_file = Path(info["ca_file"]) if info else data_dir / CA_FILE
    roots = {}
    if ca_file.is_file():
        for cert in load_certificates(ca_file):
            roots[thumbprints(cert)[1]] = common_name(cert.subject) or cert.subject.rfc4514_string()
    return HubTarget(
        label="the emulator",
        host_name=info["host_name"] if info else None,
        port=int(info["port"]) if info else None,
        roots=roots,
        data_dir=data_dir,
        running=info is not None,
    )


class _RegistryView:
    """What auth.authenticate reads: `devices` (id -> identity) and `cas` (name -> CA entry)."""

    def __init__(self, devices: dict, cas: dict):
        self.devices, self.cas = devices, cas


def emulator_verdict(target: HubTarget, device_id: str, chain: list, now: float | None = None):
    """What the emulator would answer this certificate chain's CONNECT: an auth.Verdict.

    The identity comes from the service API; CA certificates (their PEM is not in the API)
    from the registry the hub keeps.
    """
    from host_tools.hub import auth, mqtt
    from host_tools.hub.cli import request
    from host_tools.hub.registry import AUTH_CA, Registry

    status, identity = request(target.data_dir, "GET", f"/devices/{device_id}")
    devices = {device_id: identity} if status == 200 else {}
    cas = {}
    if status == 200 and identity["authentication"]["type"] == AUTH_CA:
        cas = Registry(target.data_dir).cas
    host_name = target.host_name or "localhost"
    connect = mqtt.Connect(
        client_id=device_id, user_name=f"{host_name}/{device_id}/?api-version={API_VERSION}"
    )
    registry = _RegistryView(devices, cas)
    return auth.authenticate(connect, host_name, registry, chain, now or time.time())
