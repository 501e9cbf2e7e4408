"""The DPS endpoint in tests: `with running_hub(tmp_path, dps=True) as hub: hub.dps...`.

`DpsHandle` hops onto the hub's loop like HubHandle does; enrollments are made through the same
service routes the CLI uses, so tests and the CLI check the same documents.
"""

import time

from host_tools.certs.certfiles import as_certificate, thumbprints
from host_tools.dps.enrollments import thumbprint_info


class DpsHandle:
    """A running DPS endpoint. Attributes: `port`, `host_name`, `id_scope`, `assigned_hub`."""

    def __init__(self, hub_handle):
        self._handle = hub_handle
        server = hub_handle.hub.dps
        self.port = server.port
        self.host_name = server.host_name
        self.id_scope = server.id_scope
        self.assigned_hub = hub_handle.host_name
        self.provisioning = server.provisioning

    def _route(self, method: str, path: str, body=None):
        from host_tools.hub.registry import RegistryError
        from host_tools.hub.service_api import route

        status, answer = self._handle._run(route(self._handle.hub, method, path, body))
        if status >= 400:
            raise RegistryError(str(answer), status)
        return answer

    # enrollments --------------------------------------------------------------------------

    def enroll_x509(self, registration_id, certificate=None, thumbprint=None, **extra) -> dict:
        """Individual X.509 enrollment by thumbprint (or the certificate's SHA-1 and SHA-256)."""
        if certificate is not None:
            cert = as_certificate(certificate)
            sha1, sha256 = thumbprints(cert)
            info = {"sha1Thumbprint": sha1, "sha256Thumbprint": sha256}
        else:
            info = thumbprint_info(thumbprint)
        attestation = {"type": "x509", "x509": {"clientCertificates": {"primary": {"info": info}}}}
        return self.enroll(registration_id, attestation, **extra)

    def enroll_x509_ca(self, registration_id, ca_name, **extra) -> dict:
        """Individual enrollment of a CA-signed device (CN = registration id)."""
        attestation = {"type": "x509", "x509": {"caReferences": {"primary": ca_name}}}
        return self.enroll(registration_id, attestation, **extra)

    def enroll_sas(self, registration_id, primary_key=None, secondary_key=None, **extra):
        keys = {"primaryKey": primary_key, "secondaryKey": secondary_key}
        attestation = {"type": "symmetricKey", "symmetricKey": keys}
        return self.enroll(registration_id, attestation, **extra)

    def enroll(self, registration_id, attestation, initial_twin=None, enabled=True, **extra):
        body = {"attestation": attestation, **_common(initial_twin, enabled), **extra}
        return self._route("PUT", f"/enrollments/{registration_id}", body)

    def group_x509(self, group_id, ca_name, initial_twin=None, enabled=True) -> dict:
        """An enrollment group of the devices chaining to CA `ca_name` of the hub's registry."""
        attestation = {"type": "x509", "x509": {"caReferences": {"primary": ca_name}}}
        body = {"attestation": attestation, **_common(initial_twin, enabled)}
        return self._route("PUT", f"/enrollmentGroups/{group_id}", body)

    def group_sas(self, group_id, primary_key=None, secondary_key=None, **options) -> dict:
        """A symmetric-key group; device keys derive from its keys and the registration id."""
        keys = {"primaryKey": primary_key, "secondaryKey": secondary_key}
        body = {
            "attestation": {"type": "symmetricKey", "symmetricKey": keys},
            **_common(options.get("initial_twin"), options.get("enabled", True)),
        }
        return self._route("PUT", f"/enrollmentGroups/{group_id}", body)

    def set_enabled(self, key, enabled: bool, group: bool = False) -> None:
        path = f"/{'enrollmentGroups' if group else 'enrollments'}/{key}"
        document = self._route("GET", path)
        document["provisioningStatus"] = "enabled" if enabled else "disabled"
        self._route("PUT", path, document)

    # what happened ------------------------------------------------------------------------

    def registrations(self) -> list:
        return self._route("GET", "/registrations")

    def registration(self, registration_id) -> dict:
        return self._route("GET", f"/registrations/{registration_id}")

    def operations(self, registration_id=None) -> list:
        """Operations (registration attempts), oldest first: `.polls`, `.early_polls`, ..."""
        operations = self._handle._call(lambda: list(self.provisioning.operations.values()))
        return [o for o in operations if registration_id in (None, o.registration_id)]

    def set_timing(self, assignment_delay_s: float = 0.0, retry_after_s: int = 3) -> None:
        """How long registrations stay "assigning", and the retry-after sent meanwhile."""

        def apply():
            self.provisioning.assignment_delay_s = assignment_delay_s
            self.provisioning.retry_after_s = retry_after_s

        self._handle._call(apply)

    def wait_for_registration(self, registration_id, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            records = {r["registrationId"]: r for r in self.registrations()}
            if registration_id in records:
                return records[registration_id]
            if time.monotonic() > deadline:
                raise AssertionError(f"no registration record for {registration_id}")
            time.sleep(0.05)


def _common(initial_twin, enabled) -> dict:
    body = {"provisioningStatus": "enabled" if enabled else "disabled"}
    if initial_twin is not None:
        body["initialTwin"] = initial_twin
    return body
