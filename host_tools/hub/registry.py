"""The hub's persistent state: device identities, CA certificates, twins, C2D queues, sessions.

One JSON file, `DIR/registry.json`, rewritten atomically after every change (0600: it holds SAS
keys; see storage.py), so a restarted hub (or `hub register` with the hub stopped) sees the same
devices. Telemetry is not kept here: it
lives in memory only (see server.py).
"""

import json
import secrets
import threading
import time

from host_tools.certs.device_id import device_id_problem
from host_tools.errors import UserError
from host_tools.hub.storage import prepare_data_dir, write_secret

REGISTRY_FILE = "registry.json"
AUTH_SELF_SIGNED = "selfSigned"
AUTH_CA = "certificateAuthority"
AUTH_SAS = "sas"
AUTH_TYPES = (AUTH_SELF_SIGNED, AUTH_CA, AUTH_SAS)
C2D_QUEUE_LIMIT = 50


class RegistryError(UserError):
    """A service-side request the hub refuses; `status` is the HTTP status the REST API returns."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def normalize_thumbprint(value: str | None) -> str | None:
    """Uppercase hex without separators; refuses anything that is not 40 or 64 hex digits."""
    if not value:
        return None
    cleaned = value.replace(":", "").replace(" ", "").upper()
    if len(cleaned) not in (40, 64) or any(c not in "0123456789ABCDEF" for c in cleaned):
        raise RegistryError(f"thumbprint {value!r} is not 40 (SHA-1) or 64 (SHA-256) hex digits")
    return cleaned


def new_twin() -> dict:
    return {"desired": {"$version": 1}, "reported": {"$version": 1}, "tags": {}}


class Registry:
    """Devices and CAs with their twins and queues; thread-safe, persisted on every change."""

    def __init__(self, data_dir):
        self.path = prepare_data_dir(data_dir) / REGISTRY_FILE
        self._lock = threading.RLock()
        self.devices: dict = {}
        self.cas: dict = {}
        if self.path.exists():
            try:
                state = json.loads(self.path.read_text())
            except (OSError, ValueError) as exc:
                raise UserError(f"{self.path} is unreadable ({exc}): fix or delete it") from exc
            self.devices = state.get("devices", {})
            self.cas = state.get("certificates", {})

    def save(self) -> None:
        with self._lock:
            text = json.dumps({"devices": self.devices, "certificates": self.cas}, indent=1)
            write_secret(self.path, text)

    # devices --------------------------------------------------------------------------

    def add_device(
        self,
        device_id: str,
        auth_type: str,
        primary: str | None = None,
        secondary: str | None = None,
        enabled: bool = True,
    ) -> dict:
        """Create or replace a device identity; `primary`/`secondary` are thumbprints or keys.

        Replacing keeps the twin and queue, as updating an identity on the hub does.
        """
        problem = device_id_problem(device_id)
        if problem:  # the hub's own rule, shared with the credentials tools
            raise RegistryError(f"device id {device_id!r} is not valid: {problem}")
        if auth_type not in AUTH_TYPES:
            raise RegistryError(f"authentication type {auth_type!r}: use one of {AUTH_TYPES}")
        auth: dict = {"type": auth_type}
        if auth_type == AUTH_SELF_SIGNED:
            if not primary:
                raise RegistryError(f"device {device_id}: a self-signed device needs a thumbprint")
            auth["x509Thumbprint"] = {
                "primaryThumbprint": normalize_thumbprint(primary),
                "secondaryThumbprint": normalize_thumbprint(secondary),
            }
        elif auth_type == AUTH_SAS:
            keys = {"primaryKey": primary or _new_key(), "secondaryKey": secondary or _new_key()}
            auth["symmetricKey"] = keys
        with self._lock:
            device = self.devices.get(device_id) or {
                "deviceId": device_id,
                "twin": new_twin(),
                "c2d": [],
                "subscriptions": {},
            }
            device["authentication"] = auth
            device["status"] = "enabled" if enabled else "disabled"
            self.devices[device_id] = device
            self.save()
            return device

    def device(self, device_id: str) -> dict:
        with self._lock:
            if device_id not in self.devices:
                raise RegistryError(f"device {device_id!r} is not registered", 404)
            return self.devices[device_id]

    def remove_device(self, device_id: str) -> None:
        with self._lock:
            self.device(device_id)
            del self.devices[device_id]
            self.save()

    def set_enabled(self, device_id: str, enabled: bool) -> None:
        with self._lock:
            self.device(device_id)["status"] = "enabled" if enabled else "disabled"
            self.save()

    def describe(self, device_id: str) -> dict:
        """The identity as the REST API shows it (no twin, no queue)."""
        with self._lock:
            device = self.device(device_id)
            return {
                "deviceId": device_id,
                "status": device["status"],
                "authentication": device["authentication"],
                "cloudToDeviceMessageCount": len(device["c2d"]),
            }

    # C2D queue --------------------------------------------------------------------------

    def c2d_enqueue(self, device_id: str, body: bytes, properties: dict) -> dict:
        """Queue a message; a 51st is refused (403004 DeviceMaximumQueueDepthExceeded)."""
        with self._lock:
            queue = self.device(device_id)["c2d"]
            if len(queue) >= C2D_QUEUE_LIMIT:
                raise RegistryError(
                    f"device {device_id}: {C2D_QUEUE_LIMIT} messages already queued "
                    "(403004 DeviceMaximumQueueDepthExceeded)",
                    403,
                )
            message = {
                "id": secrets.token_hex(8),
                "body": body.decode("latin-1"),
                "properties": dict(properties),
                "enqueued": time.time(),
            }
            queue.append(message)
            self.save()
            return message

    def c2d_complete(self, device_id: str, message_id: str) -> None:
        with self._lock:
            device = self.devices.get(device_id)
            if device:
                device["c2d"] = [m for m in device["c2d"] if m["id"] != message_id]
                self.save()

    # subscriptions (the MQTT session kept while clean session is off) -------------------

    def set_subscriptions(self, device_id: str, subscriptions: dict) -> None:
        with self._lock:
            device = self.devices.get(device_id)
            if device is not None and device.get("subscriptions") != subscriptions:
                device["subscriptions"] = dict(subscriptions)
                self.save()

    # CA certificates ------------------------------------------------------------------

    def add_ca(self, name: str, certificate_pem: str) -> dict:
        from host_tools.hub.auth import ca_summary

        summary = ca_summary(certificate_pem)  # raises RegistryError when not a CA certificate
        with self._lock:
            entry = {
                "name": name,
                "certificate": certificate_pem,
                "isVerified": False,
                "verificationCode": None,
                **summary,
            }
            self.cas[name] = entry
            self.save()
            return entry

    def ca(self, name: str) -> dict:
        with self._lock:
            if name not in self.cas:
                raise RegistryError(f"CA certificate {name!r} is not registered", 404)
            return self.cas[name]

    def ca_verification_code(self, name: str) -> str:
        """A fresh proof-of-possession code: the owner signs a certificate with CN = this code."""
        with self._lock:
            entry = self.ca(name)
            entry["verificationCode"] = secrets.token_hex(16).upper()
            self.save()
            return entry["verificationCode"]

    def ca_verify(self, name: str, verification_pem: str) -> dict:
        from host_tools.hub.auth import check_proof_of_possession

        with self._lock:
            entry = self.ca(name)
            if not entry.get("verificationCode"):
                raise RegistryError(f"CA {name}: ask for a verification code first", 400)
            check_proof_of_possession(
                entry["certificate"], verification_pem, entry["verificationCode"]
            )
            entry["isVerified"] = True
            entry["verificationCode"] = None
            self.save()
            return entry

    def add_verified_ca(self, name: str, certificate_pem: str) -> dict:
        """Add a CA already verified (tests and trusted set-up: skips proof of possession)."""
        with self._lock:
            entry = self.add_ca(name, certificate_pem)
            entry["isVerified"] = True
            self.save()
            return entry


def _new_key() -> str:
    import base64

    return base64.b64encode(secrets.token_bytes(32)).decode()
