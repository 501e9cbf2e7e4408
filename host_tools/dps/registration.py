"""DPS's device side, without I/O: attest a registration, run its operation, allocate the device.

`Provisioning.register` and `Provisioning.operation_status` take what arrived (registration id,
the TLS peer chain or SAS token, the request body, the time) and return an `Answer` (status,
JSON body, retry-after). Allocation creates the device identity in the hub's registry as the
enrollment says. X.509 is judged by host_tools/hub/auth.py, the hub's own chain rules.
"""

import json
import logging
import secrets
import uuid
from dataclasses import dataclass, field

from cryptography import x509

from host_tools.dps.enrollments import ATTESTATION_SAS, ATTESTATION_X509, utc_now_text
from host_tools.dps.topics import dps_sas_resource, registration_id_problem, sas_derive_device_key
from host_tools.hub.auth import (
    certificate_thumbprints,
    sas_token_fields,
    sas_token_problem,
    x509_problem,
)
from host_tools.hub.registry import AUTH_CA, AUTH_SAS, AUTH_SELF_SIGNED, RegistryError
from host_tools.hub.twin import TwinError, twin_apply_patch

log = logging.getLogger("host_tools.dps")

RETRY_AFTER_S = 3  # what DPS sends with 202 (the Python SDK waits 2 s after register anyway)
OPERATIONS_KEPT = 10_000
_ERROR_CODES = {400: 400004, 401: 401002, 404: 404201}  # DPS's "errorCode": status + 3 digits


@dataclass
class Answer:
    status: int
    body: dict
    retry_after: int | None = None


@dataclass
class Attested:
    """Who a registration proved to be: the enrollment it matched and the identity to create."""

    enrollment: dict
    group_id: str | None
    auth_type: str
    primary: str | None = None
    secondary: str | None = None


@dataclass
class Operation:
    operation_id: str
    registration_id: str
    attested: Attested
    payload: object
    ready_at: float
    retry_after: int
    result: dict | None = None  # the 200 body once assigned / disabled / failed
    polls: list = field(default_factory=list)  # times of operation-status requests
    early_polls: int = 0  # polls sooner than the retry-after of the previous answer
    _last_answer_at: float = 0.0


def error_answer(status: int, message: str, now: float) -> Answer:
    """DPS's error body: {"errorCode", "trackingId", "message", "timestampUtc"}."""
    body = {
        "errorCode": _ERROR_CODES.get(status, status * 1000),
        "trackingId": str(uuid.uuid4()),
        "message": message,
        "timestampUtc": utc_now_text(now),
    }
    return Answer(status, body)


class Provisioning:
    """Registrations in flight and their allocation to the hub (call from one thread)."""

    def __init__(self, store, registry, hub_host_name: str):
        self.store = store  # EnrollmentStore
        self.registry = registry  # the hub's Registry
        self.hub_host_name = hub_host_name
        self.assignment_delay_s = 0.0  # how long an operation stays "assigning"
        self.retry_after_s = RETRY_AFTER_S
        self.operations: dict = {}  # operation id -> Operation

    # requests -----------------------------------------------------------------------------

    def register(
        self, registration_id: str, peer_chain: list, token: str | None, body: bytes, now: float
    ) -> tuple:
        """A register request: (Answer, Operation or None). 202 + operation id when attested."""
        try:
            request = json.loads(body) if body.strip() else {}
        except (ValueError, RecursionError):
            return error_answer(400, "request body is not JSON", now), None
        if not isinstance(request, dict) or request.get("registrationId") != registration_id:
            return error_answer(
                400,
                f'body must be {{"registrationId": {registration_id!r}, "payload": ...}}',
                now,
            ), None
        problem = registration_id_problem(registration_id)
        if problem:
            return error_answer(400, f"registration id {registration_id!r}: {problem}", now), None
        attested = self.attest(registration_id, peer_chain, token, now)
        if isinstance(attested, Answer):
            return attested, None
        operation = Operation(
            f"4.{secrets.token_hex(8)}.{uuid.uuid4()}",
            registration_id,
            attested,
            request.get("payload"),
            now + self.assignment_delay_s,
            self.retry_after_s,
        )
        operation._last_answer_at = now
        self.operations[operation.operation_id] = operation
        while len(self.operations) > OPERATIONS_KEPT:
            del self.operations[next(iter(self.operations))]
        self.complete_due(now)
        body = {"operationId": operation.operation_id, "status": "assigning"}
        return Answer(202, body, operation.retry_after), operation

    def operation_status(self, registration_id: str, operation_id: str | None, now: float):
        """An operation-status request: 202 assigning (retry-after) or 200 with the result."""
        operation = self.operations.get(operation_id or "")
        if operation is None or operation.registration_id != registration_id:
            return error_answer(404, f"operation {operation_id!r} does not exist", now)
        waited = now - operation._last_answer_at
        if waited + 0.05 < operation.retry_after:  # counted, not refused: DPS does not either
            operation.early_polls += 1
            log.info(
                "%s polled %.2f s after a retry-after of %s s",
                registration_id,
                waited,
                operation.retry_after,
            )
        operation.polls.append(now)
        self.complete_due(now)
        operation._last_answer_at = now
        if operation.result is None:
            body = {"operationId": operation.operation_id, "status": "assigning"}
            return Answer(202, body, operation.retry_after)
        return Answer(200, operation.result)

    def complete_due(self, now: float) -> None:
        """Allocate every operation whose assignment time has come."""
        for operation in list(self.operations.values()):
            if operation.result is None and operation.ready_at <= now:
                operation.result = self._allocate(operation, now)

    # attestation --------------------------------------------------------------------------

    def attest(self, registration_id: str, chain: list, token: str | None, now: float):
        """The matching enrollment as `Attested`, or an error `Answer` (401 / 404)."""
        if token is not None:
            return self._attest_sas(registration_id, token, now)
        if not chain:
            return error_answer(401, "no client certificate and no SAS token", now)
        common_name = _common_name(chain[0])
        if common_name != registration_id:
            return error_answer(
                401, f"certificate CN {common_name!r} is not the registration id", now
            )
        individual = self.store.enrollments.get(registration_id)
        if individual is not None:
            attestation = individual["attestation"]
            if attestation["type"] != ATTESTATION_X509:
                return error_answer(401, "the enrollment expects a symmetric key", now)
            auth, cas = self._x509_identity(attestation["x509"])
            problem = x509_problem(registration_id, chain, auth, cas, now)
            if problem:
                return error_answer(401, problem, now)
            if auth["type"] == AUTH_CA:
                return Attested(individual, None, AUTH_CA)
            return Attested(
                individual, None, AUTH_SELF_SIGNED, certificate_thumbprints(chain[0])[1]
            )
        problems = []
        related = False
        for group_id, group in self.store.groups.items():
            if group["attestation"]["type"] != ATTESTATION_X509:
                continue
            auth, cas = self._x509_identity(group["attestation"]["x509"])
            problem = x509_problem(registration_id, chain, auth, cas, now)
            if problem is None:
                return Attested(group, group_id, AUTH_CA)
            problems.append(f"group {group_id!r}: {problem}")
            related = related or _chain_names_ca(chain, cas)
        if not related:
            return error_answer(404, f"no enrollment for registration id {registration_id!r}", now)
        return error_answer(401, "; ".join(problems)[:500], now)

    def _x509_identity(self, attestation: dict) -> tuple:
        """(auth as the hub's registry stores it, the CAs it may chain to)."""
        if "caReferences" in attestation:
            names = attestation["caReferences"].values()
            cas = {n: self.registry.cas[n] for n in names if n in self.registry.cas}
            return {"type": AUTH_CA}, cas
        slots = attestation["clientCertificates"]
        prints = {}
        for slot, key in (("primary", "primaryThumbprint"), ("secondary", "secondaryThumbprint")):
            info = (slots.get(slot) or {}).get("info") or {}
            prints[key] = info.get("sha256Thumbprint") or info.get("sha1Thumbprint")
        return {"type": AUTH_SELF_SIGNED, "x509Thumbprint": prints}, {}

    def _attest_sas(self, registration_id: str, token: str, now: float):
        fields = sas_token_fields(token) or {}
        if fields.get("skn", "registration") != "registration":
            return error_answer(401, f"SAS key name skn={fields['skn']!r} is not registration", now)
        resource = dps_sas_resource(self.store.id_scope, registration_id)
        individual = self.store.enrollments.get(registration_id)
        if individual is not None:
            attestation = individual["attestation"]
            if attestation["type"] != ATTESTATION_SAS:
                return error_answer(401, "the enrollment expects an X.509 certificate", now)
            keys = attestation["symmetricKey"]
            problem = sas_token_problem(token, resource, keys, now)
            if problem:
                return error_answer(401, problem, now)
            return Attested(individual, None, AUTH_SAS, keys["primaryKey"], keys["secondaryKey"])
        groups = [
            (group_id, group)
            for group_id, group in self.store.groups.items()
            if group["attestation"]["type"] == ATTESTATION_SAS
        ]
        if not groups:
            return error_answer(404, f"no enrollment for registration id {registration_id!r}", now)
        problem = None
        for group_id, group in groups:
            keys = group["attestation"]["symmetricKey"]
            derived = {
                "primaryKey": sas_derive_device_key(keys["primaryKey"], registration_id),
                "secondaryKey": sas_derive_device_key(keys["secondaryKey"], registration_id),
            }
            problem = sas_token_problem(token, resource, derived, now)
            if problem is None:
                primary, secondary = derived["primaryKey"], derived["secondaryKey"]
                return Attested(group, group_id, AUTH_SAS, primary, secondary)
        if problem == "SAS token signature does not match":
            problem = "SAS token signature matches no enrollment group's derived key"
        return error_answer(401, problem, now)

    # allocation ---------------------------------------------------------------------------

    def _allocate(self, operation: Operation, now: float) -> dict:
        attested = operation.attested
        enrollment = attested.enrollment
        device_id = enrollment.get("deviceId") or operation.registration_id
        record = {
            "registrationId": operation.registration_id,
            "createdDateTimeUtc": utc_now_text(now),
            "lastUpdatedDateTimeUtc": utc_now_text(now),
        }
        attestation_kind = enrollment["attestation"]["type"]
        if attested.group_id:
            record[attestation_kind] = {"enrollmentGroupId": attested.group_id}
        if enrollment.get("provisioningStatus") == "disabled":
            record["status"] = "disabled"
        else:
            try:
                self._create_device(device_id, attested)
                record.update(
                    assignedHub=self.hub_host_name,
                    deviceId=device_id,
                    status="assigned",
                    substatus="initialAssignment",  # one hub: never migrated
                )
            except (RegistryError, TwinError) as exc:
                record.update(status="failed", errorCode=400207, errorMessage=str(exc))
        stored = dict(record, payload=operation.payload, operationId=operation.operation_id)
        self.store.record_registration(stored)
        record["etag"] = stored["etag"]
        log.info("registration %s: %s", operation.registration_id, record["status"])
        return {
            "operationId": operation.operation_id,
            "status": record["status"],
            "registrationState": record,
        }

    def _create_device(self, device_id: str, attested: Attested) -> bool:
        """Create or update the identity; the initial twin applies to a new device only."""
        new = device_id not in self.registry.devices
        self.registry.add_device(
            device_id, attested.auth_type, attested.primary, attested.secondary
        )
        if new:
            twin = self.registry.devices[device_id]["twin"]
            initial = attested.enrollment.get("initialTwin") or {}
            twin["tags"].update(initial.get("tags") or {})
            desired = (initial.get("properties") or {}).get("desired") or {}
            try:
                if desired:
                    twin_apply_patch(twin, "desired", desired)
            except TwinError:
                self.registry.remove_device(device_id)  # "failed" leaves no half-made device
                raise
            self.registry.save()
        return new


def _common_name(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def _chain_names_ca(chain: list, cas: dict) -> bool:
    """Whether a presented certificate names one of `cas` as its issuer (so a group applies)."""
    subjects = set()
    for entry in cas.values():
        subjects.add(x509.load_pem_x509_certificate(entry["certificate"].encode()).subject)
    return any(cert.issuer in subjects or cert.subject in subjects for cert in chain)
