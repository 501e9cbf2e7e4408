"""DPS's service-side state: the id scope, enrollments, enrollment groups, registration records.

One JSON file beside the hub's registry, `DIR/dps.json`, 0600 and rewritten atomically after
every change (it holds symmetric keys; host_tools/hub/storage.py does the writing). Documents are
shaped like DPS's REST API where that was cheap:

  individual  {"registrationId", "deviceId"?, "attestation", "provisioningStatus", "initialTwin"}
  group       {"enrollmentGroupId", "attestation", "provisioningStatus", "initialTwin"}
  attestation {"type": "x509", "x509": {"clientCertificates": {"primary": {"info":
                  {"sha1Thumbprint"?, "sha256Thumbprint"?}}, "secondary"?: ...}}}   (individual)
              {"type": "x509", "x509": {"caReferences": {"primary": CA name, "secondary"?}}}
              {"type": "symmetricKey", "symmetricKey": {"primaryKey", "secondaryKey"}}
"""

import base64
import datetime
import json
import secrets
import threading

from host_tools.dps.topics import registration_id_problem
from host_tools.errors import UserError
from host_tools.hub.registry import RegistryError, normalize_thumbprint
from host_tools.hub.storage import prepare_data_dir, write_secret

DPS_FILE = "dps.json"
ATTESTATION_X509 = "x509"
ATTESTATION_SAS = "symmetricKey"
STATUSES = ("enabled", "disabled")


def utc_now_text(now: float) -> str:
    """DPS's timestamps: ISO 8601 UTC with a Z."""
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_symmetric_key() -> str:
    """A 32-byte base64 key, as DPS generates them."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def new_id_scope() -> str:
    """`0ne` + 8 hex digits, the shape of DPS's id scopes."""
    return "0ne" + secrets.token_hex(4).upper()


def _etag() -> str:
    return '"' + base64.b64encode(secrets.token_bytes(6)).decode() + '"'


class EnrollmentStore:
    """Enrollments, groups and registration records; thread-safe, persisted on every change."""

    def __init__(self, data_dir):
        self.path = prepare_data_dir(data_dir) / DPS_FILE
        self._lock = threading.RLock()
        self._id_scope = None
        self.enrollments: dict = {}  # registration id -> individual enrollment
        self.groups: dict = {}  # enrollment group id -> group enrollment
        self.registrations: dict = {}  # registration id -> registration record
        if self.path.exists():
            try:
                state = json.loads(self.path.read_text())
            except (OSError, ValueError) as exc:
                raise UserError(f"{self.path} is unreadable ({exc}): fix or delete it") from exc
            self._id_scope = state.get("idScope")
            self.enrollments = state.get("enrollments", {})
            self.groups = state.get("enrollmentGroups", {})
            self.registrations = state.get("registrations", {})

    @property
    def id_scope(self) -> str:
        """Fixed per data folder: made on first use and kept in dps.json."""
        with self._lock:
            if self._id_scope is None:
                self._id_scope = new_id_scope()
                self.save()
            return self._id_scope

    def save(self) -> None:
        with self._lock:
            if self._id_scope is None:
                self._id_scope = new_id_scope()
            state = {
                "idScope": self._id_scope,
                "enrollments": self.enrollments,
                "enrollmentGroups": self.groups,
                "registrations": self.registrations,
            }
            write_secret(self.path, json.dumps(state, indent=1))

    # enrollments --------------------------------------------------------------------------

    def put_enrollment(self, registration_id: str, body: dict, cas: dict, now: float) -> dict:
        """Create or replace an individual enrollment; `cas` is the hub's CA registry."""
        problem = registration_id_problem(registration_id)
        if problem:
            raise RegistryError(f"registration id {registration_id!r} is not valid: {problem}")
        attestation = _checked_attestation(body.get("attestation"), cas, individual=True)
        document = {"registrationId": registration_id, "attestation": attestation}
        device_id = body.get("deviceId")
        if device_id and device_id != registration_id:
            if "caReferences" in attestation.get("x509", {}):
                raise RegistryError("a CA-signed device's id is its certificate CN: omit deviceId")
            document["deviceId"] = str(device_id)
        with self._lock:
            previous = self.enrollments.get(registration_id)
            self.enrollments[registration_id] = _finish(document, body, previous, now)
            self.save()
            return self.enrollments[registration_id]

    def put_group(self, group_id: str, body: dict, cas: dict, now: float) -> dict:
        """Create or replace an enrollment group (X.509 by CA name, or a group key)."""
        problem = registration_id_problem(group_id)
        if problem:
            raise RegistryError(f"enrollment group id {group_id!r} is not valid: {problem}")
        attestation = _checked_attestation(body.get("attestation"), cas, individual=False)
        document = {"enrollmentGroupId": group_id, "attestation": attestation}
        with self._lock:
            previous = self.groups.get(group_id)
            self.groups[group_id] = _finish(document, body, previous, now)
            self.save()
            return self.groups[group_id]

    def enrollment(self, registration_id: str) -> dict:
        with self._lock:
            if registration_id not in self.enrollments:
                raise RegistryError(f"enrollment {registration_id!r} does not exist", 404)
            return self.enrollments[registration_id]

    def group(self, group_id: str) -> dict:
        with self._lock:
            if group_id not in self.groups:
                raise RegistryError(f"enrollment group {group_id!r} does not exist", 404)
            return self.groups[group_id]

    def remove(self, table: str, key: str) -> None:
        with self._lock:
            entries = self.groups if table == "group" else self.enrollments
            (self.group if table == "group" else self.enrollment)(key)
            del entries[key]
            self.save()

    def set_status(self, table: str, key: str, status: str, now: float) -> dict:
        """Enable or disable an enrollment or a group (`table` "enrollment" or "group")."""
        if status not in STATUSES:
            raise RegistryError(f"provisioningStatus {status!r}: use enabled or disabled")
        with self._lock:
            entry = self.group(key) if table == "group" else self.enrollment(key)
            entry["provisioningStatus"] = status
            entry["lastUpdatedDateTimeUtc"] = utc_now_text(now)
            entry["etag"] = _etag()
            self.save()
            return entry

    # registration records -----------------------------------------------------------------

    def record_registration(self, record: dict) -> None:
        with self._lock:
            previous = self.registrations.get(record["registrationId"])
            if previous and "createdDateTimeUtc" in previous:
                record["createdDateTimeUtc"] = previous["createdDateTimeUtc"]
            record["etag"] = _etag()
            self.registrations[record["registrationId"]] = record
            self.save()

    def remove_registration(self, registration_id: str) -> None:
        with self._lock:
            self.registration(registration_id)
            del self.registrations[registration_id]
            self.save()

    def registration(self, registration_id: str) -> dict:
        with self._lock:
            if registration_id not in self.registrations:
                raise RegistryError(f"registration {registration_id!r} does not exist", 404)
            return self.registrations[registration_id]


def _finish(document: dict, body: dict, previous: dict | None, now: float) -> dict:
    status = body.get("provisioningStatus", "enabled")
    if status not in STATUSES:
        raise RegistryError(f"provisioningStatus {status!r}: use enabled or disabled")
    twin = body.get("initialTwin") or {}
    if not isinstance(twin, dict) or not isinstance(twin.get("properties", {}), dict):
        raise RegistryError('initialTwin must be {"tags": {...}, "properties": {"desired": {...}}}')
    desired = (twin.get("properties") or {}).get("desired") or {}
    tags = twin.get("tags") or {}
    if not isinstance(desired, dict) or not isinstance(tags, dict):
        raise RegistryError("initialTwin tags and desired properties must be JSON objects")
    stamp = utc_now_text(now)
    document.update(
        {
            "provisioningStatus": status,
            "initialTwin": {"tags": tags, "properties": {"desired": desired}},
            "allocationPolicy": "static",  # one hub: the emulator's own
            "createdDateTimeUtc": previous["createdDateTimeUtc"] if previous else stamp,
            "lastUpdatedDateTimeUtc": stamp,
            "etag": _etag(),
        }
    )
    return document


def _checked_attestation(attestation, cas: dict, individual: bool) -> dict:
    if not isinstance(attestation, dict):
        raise RegistryError('an enrollment needs "attestation": {"type": "x509"|"symmetricKey"}')
    kind = attestation.get("type")
    if kind == ATTESTATION_SAS:
        keys = attestation.get("symmetricKey") or {}
        checked = {}
        for slot in ("primaryKey", "secondaryKey"):
            key = keys.get(slot) or new_symmetric_key()
            try:
                if not 16 <= len(base64.b64decode(key, validate=True)) <= 64:
                    raise ValueError("length")
            except ValueError as exc:
                raise RegistryError(
                    f"{slot} is not base64 of 16 to 64 bytes (DPS's rule for keys)"
                ) from exc
            checked[slot] = key
        return {"type": ATTESTATION_SAS, "symmetricKey": checked}
    if kind != ATTESTATION_X509:
        raise RegistryError(f"attestation type {kind!r}: use x509 or symmetricKey")
    x509 = attestation.get("x509") or {}
    if x509.get("caReferences"):
        references = {}
        for slot, name in x509["caReferences"].items():
            if slot not in ("primary", "secondary") or not name:
                continue
            if name not in cas:
                raise RegistryError(
                    f"CA {name!r} is not in the hub's registry: `hub ca add {name} CA.pem` first",
                    404,
                )
            references[slot] = name
        if "primary" not in references:
            raise RegistryError('caReferences needs a "primary" CA name')
        return {"type": ATTESTATION_X509, "x509": {"caReferences": references}}
    if not individual:
        raise RegistryError("an X.509 enrollment group needs caReferences (a CA in the hub)")
    certificates = {}
    for slot, entry in (x509.get("clientCertificates") or {}).items():
        info = (entry or {}).get("info") or {}
        prints = {}
        for field in ("sha1Thumbprint", "sha256Thumbprint"):
            if info.get(field):
                prints[field] = normalize_thumbprint(info[field])
        if slot in ("primary", "secondary") and prints:
            certificates[slot] = {"info": prints}
    if "primary" not in certificates:
        raise RegistryError("an X.509 individual enrollment needs a primary thumbprint or CA")
    return {"type": ATTESTATION_X509, "x509": {"clientCertificates": certificates}}


def thumbprint_info(thumbprint: str) -> dict:
    """{"sha1Thumbprint"} or {"sha256Thumbprint"} for a bare thumbprint, by its length."""
    normalized = normalize_thumbprint(thumbprint)
    return {"sha1Thumbprint" if len(normalized) == 40 else "sha256Thumbprint": normalized}
