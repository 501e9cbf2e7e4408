"""The emulator as a test fixture: `with running_hub(tmp_path) as hub: ...`.

The hub runs on its own asyncio loop in a background thread; every handle method hops onto that
loop, so tests call plain functions. `stop()` and `start()` keep the port and all state, which is
how tests kill the hub under a device and bring it back.
"""

import asyncio
import contextlib
import threading
import time
from pathlib import Path

from host_tools.hub.registry import AUTH_CA, AUTH_SAS, AUTH_SELF_SIGNED, RegistryError
from host_tools.hub.server import Hub


class HubHandle:
    """A running emulator. Attributes: `port`, `host_name`, `ca_file`, `data_dir`, `http_port`,
    `http_token` (the service API's bearer token; new at every `start()`).
    """

    def __init__(self, data_dir, host_name: str = "localhost", port: int = 0, dps_host_name=None):
        """`dps_host_name`: serve DPS too (`handle.dps`, a host_tools.dps.testing.DpsHandle)."""
        self.data_dir = Path(data_dir)  # made 0700 by the hub's registry
        self.host_name = host_name
        self.port = port
        self.http_port = 0
        self.http_token = None
        self.dps = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hub", daemon=True)
        self._thread.start()
        self.hub: Hub = self._call(Hub, self.data_dir, host_name, dps_host_name=dps_host_name)
        self.ca_file = Path(self.hub.credentials["ca_file"])
        self._running = False

    # plumbing -------------------------------------------------------------------------

    def _run(self, coroutine, timeout: float | None = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _call(self, function, *args, **kwargs):
        async def call():
            return function(*args, **kwargs)

        return self._run(call())

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Listen again (same port as before, same registry, twins and queues)."""
        from host_tools.hub.service_api import start_service

        if self._running:
            return
        dps_port = 0 if self.hub.dps_host_name else None
        self.port, self.http_port = self._run(
            start_service(self.hub, "127.0.0.1", self.port, self.http_port, dps_port)
        )
        self.http_token = self.hub.http_token
        if self.hub.dps is not None and self.dps is None:
            from host_tools.dps.testing import DpsHandle

            self.dps = DpsHandle(self)
        self._running = True

    def stop(self) -> None:
        """Drop every device connection and stop listening; state is kept for `start()`."""
        from host_tools.hub.service_api import stop_service

        if self._running:
            self._run(stop_service(self.hub))
            self._running = False

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def request(self, method: str, path: str, body=None) -> tuple:
        """One call to the service HTTP API, token included: (HTTP status, JSON answer)."""
        from host_tools.hub.cli import request

        return request(self.data_dir, method, path, body, need_running=True)

    # registry -------------------------------------------------------------------------

    def register_x509(self, device_id, primary_thumbprint, secondary_thumbprint=None) -> None:
        """A self-signed X.509 device (SHA-1 or SHA-256 thumbprints, any case, colons ok)."""
        self._call(
            self.hub.registry.add_device,
            device_id,
            AUTH_SELF_SIGNED,
            primary_thumbprint,
            secondary_thumbprint,
        )

    def register_x509_ca(self, device_id) -> None:
        """A CA-signed X.509 device: its certificate's CN must be `device_id`."""
        self._call(self.hub.registry.add_device, device_id, AUTH_CA)

    def register_sas(self, device_id, primary_key, secondary_key=None) -> None:
        """A SAS device with base64 symmetric keys."""
        self._call(self.hub.registry.add_device, device_id, AUTH_SAS, primary_key, secondary_key)

    def register_ca(self, name, certificate, verified: bool = True) -> dict:
        """Upload a CA certificate (path or PEM); verified unless `verified=False`."""
        pem = _pem_text(certificate)
        add = self.hub.registry.add_verified_ca if verified else self.hub.registry.add_ca
        return self._call(add, name, pem)

    def ca_verification_code(self, name) -> str:
        return self._call(self.hub.registry.ca_verification_code, name)

    def verify_ca(self, name, verification_certificate) -> dict:
        return self._call(self.hub.registry.ca_verify, name, _pem_text(verification_certificate))

    def set_enabled(self, device_id, enabled: bool) -> None:
        """Enable or disable a device; disabling also drops its live connection."""

        def apply():
            self.hub.registry.set_enabled(device_id, enabled)
            connection = self.hub.sessions.get(device_id)
            if connection is not None and not enabled:
                connection.drop("device disabled")

        self._call(apply)

    def remove_device(self, device_id) -> None:
        """Delete the identity and drop its live connection, as the service API's DELETE does."""
        from host_tools.hub.service_api import route

        status, answer = self._run(route(self.hub, "DELETE", f"/devices/{device_id}", None))
        if status >= 400:
            raise RegistryError(str(answer), status)

    # telemetry ------------------------------------------------------------------------

    def telemetry(self, device_id=None) -> list:
        """Messages received so far: records with device_id, topic, properties, body."""
        return self.hub.telemetry(device_id)

    def wait_for_telemetry(self, count: int, device_id=None, timeout: float = 10) -> list:
        """Block until at least `count` messages arrived; AssertionError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.hub.telemetry(device_id)
            if len(records) >= count:
                return records
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(records)} of {count} telemetry messages after {timeout} s "
                    f"(device {device_id}); connection log: {self.connection_log[-5:]}"
                )
            time.sleep(0.02)

    # service side ---------------------------------------------------------------------

    def c2d(self, device_id, payload, properties=None) -> str:
        """Queue a C2D message (str or bytes); returns its message id."""
        body = payload.encode() if isinstance(payload, str) else bytes(payload)
        return self._call(self.hub.c2d, device_id, body, properties or {})["id"]

    def invoke(self, device_id, method, payload=None, timeout: float = 30) -> tuple:
        """Direct method call: (status, payload); 504 on timeout, 404 when not subscribed."""
        return self._run(self.hub.invoke(device_id, method, payload, timeout), timeout + 10)

    def twin(self, device_id) -> dict:
        """{"desired": {..., "$version"}, "reported": {..., "$version"}}."""
        return self._call(self.hub.twin, device_id)

    def update_desired(self, device_id, patch: dict) -> int:
        """Patch desired properties (pushed to the device if subscribed); the new version."""
        return self._call(self.hub.update_desired, device_id, patch)

    def is_connected(self, device_id) -> bool:
        return self._call(self.hub.device_online, device_id)

    def wait_for_connection(self, device_id, timeout: float = 10, topic_filter=None) -> None:
        """Block until the device is connected (and subscribed to `topic_filter`, if given)."""
        deadline = time.monotonic() + timeout
        while not self._call(self.hub.device_online, device_id, topic_filter):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{device_id} not connected after {timeout} s; log: {self.connection_log[-5:]}"
                )
            time.sleep(0.02)

    @property
    def connection_log(self) -> list:
        """ConnectionEvent records: `.event` accepted/refused/closed/warning, `.code`, `.reason`."""
        return list(self.hub.connection_log)

    def refusals(self, device_id=None) -> list:
        """The refused CONNECTs (optionally of one device), oldest first."""
        return [
            e
            for e in self.connection_log
            if e.event == "refused" and (device_id is None or e.device_id == device_id)
        ]


def _pem_text(certificate) -> str:
    if isinstance(certificate, bytes):
        return certificate.decode()
    if isinstance(certificate, str) and "-----BEGIN" in certificate:
        return certificate
    if hasattr(certificate, "public_bytes"):
        from cryptography.hazmat.primitives.serialization import Encoding

        return certificate.public_bytes(Encoding.PEM).decode()
    return Path(certificate).read_text()


@contextlib.contextmanager
def running_hub(
    data_dir, host_name: str = "localhost", port: int = 0, dps: bool = False, dps_host_name=None
):
    """Start the emulator on 127.0.0.1 (a free port unless `port`), yield its HubHandle.

    `dps=True` serves DPS too, on a free port, as `dps_host_name` (default dps.localhost):
    `handle.dps` is its DpsHandle (host_tools/dps/testing.py).
    """
    if dps and dps_host_name is None:
        from host_tools.dps.server import DEFAULT_DPS_HOST_NAME

        dps_host_name = DEFAULT_DPS_HOST_NAME
    handle = HubHandle(data_dir, host_name, port, dps_host_name if dps else None)
    try:
        handle.start()
        yield handle
    finally:
        handle.close()
