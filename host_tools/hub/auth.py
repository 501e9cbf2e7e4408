"""Judging a CONNECT like IoT Hub: user name, then X.509 (self-signed or CA-signed) or SAS.

`authenticate` returns a Verdict: a CONNACK return code and, when refused, why (the hub's log
line). The TLS layer accepted any client certificate in the handshake; this is where it is
judged, as the hub does (it completes the handshake and refuses at CONNECT).
"""

import base64
import datetime
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from host_tools.certs.certfiles import issuer_weakness
from host_tools.hub import mqtt
from host_tools.hub.registry import AUTH_CA, AUTH_SAS, AUTH_SELF_SIGNED, RegistryError
from host_tools.hub.topics import user_name_parse


@dataclass
class Verdict:
    code: int  # CONNACK return code; 0 = accepted
    reason: str
    warning: str | None = None

    @property
    def accepted(self) -> bool:
        return self.code == mqtt.CONNACK_ACCEPTED


def _refuse(code: int, reason: str) -> Verdict:
    return Verdict(code, reason)


def authenticate(
    connect: mqtt.Connect,
    host_name: str,
    registry,
    peer_chain: list,
    now: float,
) -> Verdict:
    """Judge one CONNECT. `peer_chain` is the client's certificates, leaf first (maybe empty)."""
    user = user_name_parse(connect.user_name or "")
    if user is None:
        return _refuse(
            mqtt.CONNACK_BAD_USER_NAME_OR_PASSWORD,
            f"user name {connect.user_name!r} is not '{{host}}/{{deviceId}}/?api-version=...'",
        )
    if user.device_id != connect.client_id:
        return _refuse(
            mqtt.CONNACK_BAD_USER_NAME_OR_PASSWORD,
            f"user name names device {user.device_id!r} but the client id is {connect.client_id!r}",
        )
    if user.host_name.lower() != host_name.lower():
        return _refuse(
            mqtt.CONNACK_BAD_USER_NAME_OR_PASSWORD,
            f"user name names host {user.host_name!r}, this hub is {host_name!r}",
        )
    device_id = connect.client_id
    device = registry.devices.get(device_id)
    if device is None:
        return _refuse(mqtt.CONNACK_NOT_AUTHORIZED, f"device {device_id!r} is not registered")
    if device.get("status") != "enabled":
        return _refuse(mqtt.CONNACK_NOT_AUTHORIZED, f"device {device_id!r} is disabled")
    auth = device["authentication"]
    if auth["type"] == AUTH_SAS:
        return _judge_sas(connect, host_name, device_id, auth["symmetricKey"], now)
    warning = None
    if connect.password is not None:
        # the hub's behaviour here is undocumented: accept on the certificate alone, but say so
        warning = f"X.509 device {device_id!r} sent a password; ignored"
    if not peer_chain:
        return _refuse(
            mqtt.CONNACK_NOT_AUTHORIZED,
            f"X.509 device {device_id!r} presented no client certificate",
        )
    problem = x509_problem(device_id, peer_chain, auth, registry.cas, now)
    if problem:
        return _refuse(mqtt.CONNACK_NOT_AUTHORIZED, f"device {device_id!r}: {problem}")
    return Verdict(mqtt.CONNACK_ACCEPTED, f"device {device_id!r} authenticated", warning)


def x509_problem(identity: str, chain: list, auth: dict, cas: dict, now: float) -> str | None:
    """Why `chain` (leaf first) does not prove X.509 identity `identity`, or None when it does.

    `auth` is an identity's authentication as the registry stores it (selfSigned with
    thumbprints, or certificateAuthority: chain to a verified CA among `cas`, CN = `identity`).
    The hub judges CONNECTs with it; the DPS emulator judges registrations with the same rules.
    """
    leaf = chain[0]
    problem = _validity_problem(leaf, now, "client certificate")
    if problem is None and auth["type"] == AUTH_SELF_SIGNED:
        problem = _self_signed_problem(leaf, auth["x509Thumbprint"])
    elif problem is None and auth["type"] == AUTH_CA:
        problem = _ca_signed_problem(identity, chain, cas, now)
    return problem


def certificate_thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    """(SHA-1, SHA-256) of the DER certificate, uppercase hex, as the portal shows them."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()


def _validity_problem(cert: x509.Certificate, now: float, what: str) -> str | None:
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    if moment > cert.not_valid_after_utc:
        return f"{what} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
    if moment < cert.not_valid_before_utc:
        return f"{what} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC"
    return None


def _self_signed_problem(leaf: x509.Certificate, registered: dict) -> str | None:
    sha1, sha256 = certificate_thumbprints(leaf)
    allowed = {registered.get("primaryThumbprint"), registered.get("secondaryThumbprint")}
    if sha1 in allowed or sha256 in allowed:
        return None
    return f"certificate thumbprint {sha1} (SHA-1) / {sha256} (SHA-256) is not registered"


def _common_name(name: x509.Name) -> str | None:
    values = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(values[0].value) if values else None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # bad signature, issuer name mismatch, unsupported key type
        return False


# The Web PKI profile, as IoT Hub's chain check: every CA must be CA:TRUE with keyCertSign
# within its path length, every certificate valid now, RSA >= 2048, no SHA-1. Device
# certificates rarely carry a SAN (the identity is the CN), so the leaf may omit it.
_LEAF_POLICY = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
)
_CA_POLICY = verification.ExtensionPolicy.webpki_defaults_ca()


def _verified_anchor(chain: list, anchors: list, now: float):
    """The registered certificate `chain` verifies to, or the VerificationError's text."""
    if not anchors:
        return "no CA certificate is registered"
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(anchors))
        .time(datetime.datetime.fromtimestamp(now, datetime.UTC))
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_LEAF_POLICY)
        .build_client_verifier()
    )
    try:
        return verifier.verify(chain[0], chain[1:]).chain[-1]
    except (verification.VerificationError, ValueError) as exc:  # ValueError: malformed fields
        text = str(exc).removeprefix("validation failed: ")
        return text.split(" (encountered processing")[0][:200]


def _ca_signed_problem(device_id: str, chain: list, cas: dict, now: float) -> str | None:
    registered = [(entry, _load_pem(entry["certificate"])) for entry in cas.values()]
    anchor = _verified_anchor(chain, [c for e, c in registered if e.get("isVerified")], now)
    if isinstance(anchor, str):
        return _chain_refusal(chain, registered, anchor, now)
    common_name = _common_name(chain[0].subject)
    if common_name != device_id:  # IoT Hub's rule for CA-signed devices
        return f"certificate CN {common_name!r} is not the device id"
    return None


def _chain_refusal(chain: list, registered: list, verifier_text: str, now: float) -> str:
    """Why a chain failed, in the words that point at the fix."""
    unverified = [cert for entry, cert in registered if not entry.get("isVerified")]
    reached = _verified_anchor(chain, unverified, now) if unverified else None
    for entry, cert in registered:
        if cert == reached:  # the fix is proof of possession, not a new certificate
            return f"CA certificate {entry['name']!r} is not verified"
    for cert in chain[1:]:  # the verifier says only "not valid at validation time"
        problem = _validity_problem(cert, now, f"issuer {_common_name(cert.subject)!r}")
        if problem:
            return problem
    return f"certificate chain does not verify to a verified CA certificate: {verifier_text}"


def _load_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def ca_summary(certificate_pem: str) -> dict:
    """Subject, thumbprints and expiry of a CA certificate; RegistryError when not a CA."""
    try:
        cert = _load_pem(certificate_pem)
    except ValueError as exc:
        raise RegistryError(f"not a PEM certificate: {exc}") from exc
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise RegistryError(f"{cert.subject.rfc4514_string()} is not a CA certificate")
    weakness = issuer_weakness(cert)
    if weakness:  # IoT Hub refuses chains through it; so would our own chain check
        raise RegistryError(
            f"CA certificate {cert.subject.rfc4514_string()} has {weakness}; upload a CA "
            "with an EC P-256 or RSA 2048+ key signed with SHA-256"
        )
    sha1, sha256 = certificate_thumbprints(cert)
    return {
        "subject": cert.subject.rfc4514_string(),
        "thumbprint": sha1,
        "thumbprintSha256": sha256,
        "expiry": cert.not_valid_after_utc.isoformat(),
    }


def check_proof_of_possession(ca_pem: str, verification_pem: str, code: str) -> None:
    """Raise RegistryError unless `verification_pem` has CN = `code` and is signed by the CA."""
    try:
        verification = _load_pem(verification_pem)
    except ValueError as exc:
        raise RegistryError(f"verification certificate is not PEM: {exc}") from exc
    common_name = _common_name(verification.subject)
    if common_name != code:
        raise RegistryError(
            f"verification certificate CN is {common_name!r}, expected the code {code!r}"
        )
    if not _issued_by(verification, _load_pem(ca_pem)):
        raise RegistryError("verification certificate is not signed by this CA's key")


def sas_token_sign(key_b64: str, resource_uri_encoded: str, expiry: int) -> str:
    """base64(HMAC-SHA256(base64decode(key), sr + "\\n" + se)): the token's signature."""
    digest = hmac.new(
        base64.b64decode(key_b64), f"{resource_uri_encoded}\n{expiry}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def _judge_sas(connect, host_name: str, device_id: str, keys: dict, now: float) -> Verdict:
    if connect.password is None:
        return _refuse(
            mqtt.CONNACK_NOT_AUTHORIZED, f"SAS device {device_id!r} sent no password (token)"
        )
    token = connect.password.decode("utf-8", "replace")
    expected_resource = f"{host_name}/devices/{device_id}"
    problem = sas_token_problem(token, expected_resource, keys, now)
    if problem:
        return _refuse(mqtt.CONNACK_NOT_AUTHORIZED, f"device {device_id!r}: {problem}")
    return Verdict(mqtt.CONNACK_ACCEPTED, f"device {device_id!r} authenticated (SAS)")


def sas_token_fields(token: str) -> dict | None:
    """The `k=v` fields of `SharedAccessSignature sr=..&sig=..&se=..`, or None for another text."""
    prefix = "SharedAccessSignature "
    if not token.startswith(prefix):
        return None
    fields = {}
    for item in token[len(prefix) :].split("&"):
        key, _, value = item.partition("=")
        fields[key] = value
    return fields


def sas_token_problem(token: str, expected_resource: str, keys: dict, now: float) -> str | None:
    """Why `token` is not a live SAS token for `expected_resource` signed with one of `keys`
    (`primaryKey`, `secondaryKey`), or None when it is. The DPS emulator reuses it.
    """
    fields = sas_token_fields(token)
    if fields is None:
        return "password is not a SAS token"
    if not {"sr", "sig", "se"} <= fields.keys():
        return "SAS token lacks sr, sig or se"
    se = fields["se"]
    if not (se.isascii() and se.isdigit()) or len(se) > 12:  # ASCII digits: "²".isdigit() too
        return f"SAS token expiry se={se[:20]!r} is not a Unix time"
    expected_resource = expected_resource.lower()
    if unquote(fields["sr"]).lower().rstrip("/") != expected_resource:
        return f"SAS token resource {unquote(fields['sr'])!r} is not {expected_resource!r}"
    expiry = int(se)
    if expiry < now:
        return f"SAS token expired {int(now - expiry)} s ago"
    signature = unquote(fields["sig"]).encode()  # bytes: compare_digest refuses non-ASCII str
    for key in (keys.get("primaryKey"), keys.get("secondaryKey")):
        if key and hmac.compare_digest(
            sas_token_sign(key, fields["sr"], expiry).encode(), signature
        ):
            return None
    return "SAS token signature does not match"
