"""`certs inspect`: what a certificate (or a folder of them) is, and what is wrong with it.

Each certificate gets its facts (subject, issuer, validity, key, thumbprints, key match, chain)
and findings, each a warning or an error. Exit code: 0 clean, 1 warnings, 2 errors.
"""

import datetime
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from host_tools.errors import UserError

from . import keys
from ._files import read_file
from .certfiles import (
    WEAK_SIGNATURE_HASHES,
    is_ca,
    load_certificates,
    parse_certificates,
    thumbprints,
)
from .device_id import device_id_problem

EXPIRY_WARNING_DAYS = 30
CERT_SUFFIXES = (".pem", ".der", ".crt", ".cer", ".key")


@dataclass
class Finding:
    """One problem: `level` is "warning" or "error"; `message` says what and the fix."""

    level: str
    message: str


@dataclass
class CertReport:
    """Facts and findings about one certificate."""

    path: str
    role: str  # "ca", "server" or "device"
    subject: str
    issuer: str
    not_before: str
    not_after: str
    days_left: int
    key_type: str
    key_bits: int
    signature_hash: str
    sha1: str
    sha256: str
    key_file: str | None = None
    key_matches: bool | None = None
    chain_verified: bool | None = None
    chain_detail: str = "not checked: pass --ca CA"
    findings: list = field(default_factory=list)

    def as_dict(self) -> dict:
        data = dict(self.__dict__)
        data["findings"] = [f.__dict__ for f in self.findings]
        return data


@dataclass
class InspectReport:
    """Everything `inspect_path` found; `exit_code` is 0 clean, 1 warnings, 2 errors."""

    certificates: list = field(default_factory=list)
    findings: list = field(default_factory=list)  # about files rather than certificates

    def all_findings(self):
        yield from self.findings
        for cert in self.certificates:
            yield from cert.findings

    @property
    def exit_code(self) -> int:
        levels = {f.level for f in self.all_findings()}
        return 2 if "error" in levels else 1 if "warning" in levels else 0

    def as_dict(self) -> dict:
        return {
            "certificates": [c.as_dict() for c in self.certificates],
            "findings": [f.__dict__ for f in self.findings],
            "exit_code": self.exit_code,
        }


def _role(cert: x509.Certificate) -> str:
    if is_ca(cert):
        return "ca"
    usages = _extended_key_usages(cert)
    if usages and ExtendedKeyUsageOID.SERVER_AUTH in usages:
        if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            return "server"
    return "device"


def _extended_key_usages(cert):
    try:
        return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


def _key_file_for(cert_path: Path) -> Path | None:
    """The key file that belongs to a certificate file by our naming (device.crt.* -> key)."""
    name = cert_path.name
    stems = {"chain.pem": "device", "secondary.chain.pem": "secondary"}
    if name in stems:
        stem = stems[name]
    elif ".crt." in name:
        stem = name.split(".crt.")[0]
    elif name.endswith(".chain.pem"):
        stem = name[: -len(".chain.pem")]
    elif cert_path.suffix in (".crt", ".cer"):
        candidate = cert_path.with_suffix(".key")
        return candidate if candidate.exists() else None
    else:
        return None
    for suffix in (".key.pem", ".key.der"):
        candidate = cert_path.with_name(stem + suffix)
        if candidate.exists():
            return candidate
    return None


def _anchor_certs(ca) -> list:
    """Certificates to trust from --ca: a CA folder (its chain) or a certificate file."""
    path = Path(ca)
    if path.is_dir():
        for name in ("ca.chain.pem", "ca.crt.pem"):
            if (path / name).exists():
                return load_certificates(path / name)[:1]
        raise UserError(f"{path}: no ca.crt.pem in this folder; pass a CA folder or CA file")
    return load_certificates(path)


def _verify_chain(cert, anchors, pool, now) -> tuple[bool, str]:
    """Walk issuer links from `cert` through `pool` to one of `anchors`."""
    current, seen = cert, 0
    while seen < 10:
        seen += 1
        for anchor in anchors:
            if current == anchor:
                return True, f"verifies to {anchor.subject.rfc4514_string()}"
        candidates = [c for c in [*anchors, *pool] if c.subject == current.issuer]
        if not candidates:
            return False, (
                f"issuer {current.issuer.rfc4514_string()} is not among the CA certificates; "
                "pass --ca with the issuing CA"
            )
        issuer = None
        for candidate in candidates:
            try:
                current.verify_directly_issued_by(candidate)
                issuer = candidate
                break
            except Exception:  # wrong key, wrong algorithm: try the next one
                continue
        if issuer is None:
            return False, f"signature does not verify against {current.issuer.rfc4514_string()}"
        if not is_ca(issuer):
            return False, f"issuer {issuer.subject.rfc4514_string()} is not a CA"
        if not issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc:
            return False, f"issuer {issuer.subject.rfc4514_string()} is outside its validity"
        if any(issuer == anchor for anchor in anchors):
            return True, f"verifies to {issuer.subject.rfc4514_string()}"
        if issuer == current:
            return False, f"ends at {issuer.subject.rfc4514_string()}, which is not the CA given"
        current = issuer
    return False, "chain too long"


def _self_signature_ok(cert) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:  # bad signature or unsupported algorithm
        return False


def _cert_findings(report: CertReport, cert, now) -> list:
    findings = []
    if now > cert.not_valid_after_utc:
        findings.append(Finding("error", f"expired on {report.not_after}; issue a new one"))
    elif now < cert.not_valid_before_utc:
        findings.append(
            Finding("error", f"not valid before {report.not_before}; check the clock or wait")
        )
    elif report.days_left < EXPIRY_WARNING_DAYS:
        findings.append(
            Finding(
                "warning",
                f"expires in {report.days_left} days ({report.not_after}); "
                + (
                    "issue a --secondary certificate and register it before then"
                    if report.role == "device"
                    else "renew it before then"
                ),
            )
        )
    if report.signature_hash in WEAK_SIGNATURE_HASHES:
        findings.append(
            Finding("error", f"signed with {report.signature_hash.upper()}; reissue with SHA-256")
        )
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < keys.MIN_RSA_BITS:
        findings.append(
            Finding("error", f"RSA key of {public_key.key_size} bits; use 2048 bits or more")
        )
    if report.role == "device":
        cn_attrs = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        cn = str(cn_attrs[0].value) if cn_attrs else ""
        problem = device_id_problem(cn)
        if problem:
            findings.append(
                Finding("warning", f"CN {cn!r} is not a valid IoT Hub device id: {problem}")
            )
        usages = _extended_key_usages(cert)
        if usages is None:
            findings.append(
                Finding("warning", "no extended key usage; reissue with clientAuth for TLS")
            )
        elif ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
            findings.append(
                Finding("error", "extended key usage lacks clientAuth; TLS servers will refuse it")
            )
    return findings


def _report_for(cert, path: Path, now) -> CertReport:
    key_type, key_bits = keys.describe_public_key(cert.public_key())
    sha1, sha256 = thumbprints(cert)
    algorithm = cert.signature_hash_algorithm
    report = CertReport(
        path=str(path),
        role=_role(cert),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
        not_after=f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
        days_left=int((cert.not_valid_after_utc - now).total_seconds() // 86400),
        key_type=key_type,
        key_bits=key_bits,
        signature_hash=algorithm.name if algorithm else "none",
        sha1=sha1,
        sha256=sha256,
    )
    report.findings = _cert_findings(report, cert, now)
    return report


def _check_key(report: CertReport, cert, key_path: Path, passphrase) -> None:
    report.key_file = str(key_path)
    data = read_file(key_path, "key file")
    try:
        key = keys.parse_private_key(data, key_path, passphrase)
    except UserError as exc:
        report.findings.append(Finding("warning", f"key not checked: {exc}"))
        return
    report.key_matches = keys.public_keys_equal(key.public_key(), cert.public_key())
    if not report.key_matches:
        report.findings.append(
            Finding(
                "error",
                f"{key_path} does not match this certificate; pair the certificate with its "
                "own key or issue both again",
            )
        )
    mode = os.stat(key_path).st_mode & 0o777
    if mode & 0o077:
        report.findings.append(
            Finding("warning", f"{key_path} is readable by others ({mode:o}); chmod 600 it")
        )


def _scan_folder(folder: Path) -> list[Path]:
    """Certificate-like files in `folder` and its direct subfolders (a fleet's device folders)."""

    def order(p: Path):
        # leaf certificate files first, so chain files only add their CA certificates
        return (0 if ".crt." in p.name else 1 if "chain" not in p.name else 2, p.name)

    found = []
    for place in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        files = [p for p in place.iterdir() if p.is_file() and p.suffix in CERT_SUFFIXES]
        found.extend(sorted(files, key=order))
    return found


def _trust_bundles(folder: Path) -> set:
    """The trust bundles in a device folder (or a fleet's): `trust.pem` and what config.json
    names as trust_file. They hold the hub's roots, which chain to no device CA."""
    found = set()
    for place in [folder, *(p for p in folder.iterdir() if p.is_dir())]:
        for candidate in (place / "trust.pem", place / "certs" / "trust.pem"):
            if candidate.is_file():
                found.add(candidate.resolve())
        try:
            named = json.loads((place / "config.json").read_text()).get("trust_file")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(named, str) and (place / named).is_file():
            found.add((place / named).resolve())
    return found


def inspect_path(path, key=None, ca=None, passphrase=None, now=None) -> InspectReport:
    """Inspect a certificate file, or every certificate in a folder and its direct subfolders.

    `key` pairs a single certificate with its key (otherwise the sibling named by our
    convention is used), `ca` is a CA folder or certificate file the chain must verify to.
    """
    path = Path(path)
    now = now or datetime.datetime.now(datetime.UTC)
    if not path.exists():
        raise UserError(f"{path}: not found; pass a certificate file or a folder")
    passphrase = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if key is not None and path.is_dir():
        raise UserError(
            f"{path}: --key goes with a certificate file; in a folder keys are paired by name"
        )
    report = InspectReport()
    loaded = []  # (path, certificate, index in its file)
    if path.is_dir():
        bundles = _trust_bundles(path)
        for file in _scan_folder(path):
            if file.resolve() in bundles:
                continue  # the hub's roots the board trusts: not the device's identity
            data = read_file(file)
            if b"PRIVATE KEY" in data or ".key." in file.name:
                continue
            try:
                certs = parse_certificates(data, file)
            except UserError:
                continue  # not a certificate: some other file in the folder
            loaded.extend((file, c, i) for i, c in enumerate(certs))
        if not loaded:
            raise UserError(f"{path}: no certificates in this folder; pass a certificate file")
    else:
        loaded = [(path, c, i) for i, c in enumerate(load_certificates(path))]
    anchors = _anchor_certs(ca) if ca is not None else []
    pool = list({c.fingerprint(hashes.SHA256()): c for _, c, _ in loaded if is_ca(c)}.values())
    if ca is None:
        anchors = [c for c in pool if c.issuer == c.subject]
    seen = set()
    for file, cert, index in loaded:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        cert_report = _report_for(cert, file, now)
        if index == 0:  # only a file's first (leaf) certificate has a key beside it
            key_path = Path(key) if key is not None else _key_file_for(file)
            if key_path is not None:
                _check_key(cert_report, cert, key_path, passphrase)
        if cert.issuer == cert.subject and not is_ca(cert):
            cert_report.chain_verified = _self_signature_ok(cert)
            cert_report.chain_detail = (
                "self-signed" if cert_report.chain_verified else "self-signature does not verify"
            )
            if not cert_report.chain_verified:
                cert_report.findings.append(
                    Finding("error", "its self-signature does not verify; issue it again")
                )
        elif anchors:
            ok, detail = _verify_chain(cert, anchors, pool, now)
            cert_report.chain_verified, cert_report.chain_detail = ok, detail
            if not ok and ca is not None:
                cert_report.findings.append(Finding("error", f"chain {detail}"))
        report.certificates.append(cert_report)
    return report


def live_cert_thumbprint(path) -> str:
    """The SHA-256 thumbprint of a certificate file to register; UserError once it has expired.

    `hub register --cert` and `dps enroll --cert` take a thumbprint this way.
    """
    leaf = inspect_path(path).certificates[0]
    if leaf.days_left < 0:
        raise UserError(
            f"{path} expired on {leaf.not_after}: the hub would refuse it at every connect; "
            "issue a new certificate (python -m host_tools certs device ...) and register that"
        )
    return leaf.sha256


def format_report(report: InspectReport) -> str:
    """Human-readable text of an InspectReport."""
    lines = []
    for c in report.certificates:
        lines.append(f"{c.path}  ({c.role} certificate)")
        lines.append(f"  subject     {c.subject}")
        lines.append(f"  issuer      {c.issuer}")
        lines.append(f"  valid       {c.not_before} .. {c.not_after} ({c.days_left} days left)")
        key_line = f"  key         {c.key_type} ({c.key_bits} bits)"
        if c.key_matches is not None:
            key_line += f"; {'matches' if c.key_matches else 'DOES NOT MATCH'} {c.key_file}"
        lines.append(key_line)
        lines.append(f"  signature   {c.signature_hash}")
        lines.append(f"  SHA-1       {c.sha1}")
        lines.append(f"  SHA-256     {c.sha256}")
        lines.append(f"  chain       {c.chain_detail}")
        for f in c.findings:
            lines.append(f"  {f.level}: {f.message}")
    for f in report.findings:
        lines.append(f"{f.level}: {f.message}")
    counts = [f.level for f in report.all_findings()]
    lines.append(
        f"{len(report.certificates)} certificate(s): {counts.count('error')} error(s), "
        f"{counts.count('warning')} warning(s)"
    )
    return "\n".join(lines)
