"""Issuing certificates: root and intermediate CAs, server, device and verification certificates.

A CA folder holds `ca.crt.pem`, `ca.key.pem` (0600, optionally encrypted) and `ca.chain.pem`
(this CA, then its issuers up to the root). A device folder holds `device.crt.der`,
`device.key.der`, `device.crt.pem`, `device.key.pem` and, when CA-signed, `chain.pem`
(`secondary.*` and `secondary.chain.pem` for the secondary identity).
"""

import datetime
import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from host_tools.errors import UserError

from . import keys
from ._files import ensure_private_dir, refuse_existing, write_file, write_key
from .certfiles import (
    cert_to_der,
    cert_to_pem,
    is_ca,
    issuer_weakness,
    load_certificates,
    thumbprints,
)
from .device_id import check_device_id

CA_CERT_NAME = "ca.crt.pem"
CA_KEY_NAME = "ca.key.pem"
CA_CHAIN_NAME = "ca.chain.pem"
# certificates start a little in the past so a board whose clock lags still accepts them
BACKDATE = datetime.timedelta(minutes=5)
MAX_VERIFICATION_CODE_LENGTH = 64  # X.509 upper bound for a common name
# validity in days when none is given; never past the issuing CA's own end
DEFAULT_DAYS = {"ca": 3650, "server": 825, "device": 365, "verification": 30}


@dataclass(frozen=True)
class CAFiles:
    """What `create_ca` wrote."""

    cert_pem: Path
    key_pem: Path
    chain_pem: Path
    sha1: str
    sha256: str
    not_after: datetime.datetime


@dataclass(frozen=True)
class ServerFiles:
    """What `create_server_cert` wrote; `chain_pem` is the server certificate + issuing CAs."""

    cert_pem: Path
    key_pem: Path
    chain_pem: Path


@dataclass(frozen=True)
class DeviceFiles:
    """What `create_device_cert` wrote, with the thumbprints to register."""

    device_id: str
    cert_der: Path
    key_der: Path
    cert_pem: Path
    key_pem: Path
    chain_pem: Path | None
    sha1: str
    sha256: str
    not_after: datetime.datetime


@dataclass
class CertificateAuthority:
    """A loaded CA: its certificate, key, and chain (this CA first, then its issuers)."""

    directory: Path
    cert: x509.Certificate
    key: object
    chain: list

    @property
    def cert_path(self) -> Path:
        return self.directory / CA_CERT_NAME


def _as_bytes(passphrase) -> bytes | None:
    if passphrase is None or passphrase == b"" or passphrase == "":
        return None
    return passphrase.encode() if isinstance(passphrase, str) else bytes(passphrase)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def load_ca(ca_dir, passphrase=None) -> CertificateAuthority:
    """Load the CA in `ca_dir` (made by `create_ca`), checking it really is a usable CA."""
    ca_dir = Path(ca_dir)
    if ca_dir.is_file() and ca_dir.name == CA_CERT_NAME:
        ca_dir = ca_dir.parent  # the CA's certificate given instead of its folder
    elif ca_dir.is_file():
        raise UserError(f"{ca_dir}: is a file; pass the CA folder (made by `certs ca`)")
    cert_path, key_path = ca_dir / CA_CERT_NAME, ca_dir / CA_KEY_NAME
    if not ca_dir.is_dir():
        raise UserError(f"{ca_dir}: CA folder not found; create one with `certs ca {ca_dir}`")
    if not cert_path.exists():
        raise UserError(
            f"{cert_path}: not found, so {ca_dir} is not a CA folder; "
            f"create one with `certs ca {ca_dir}` or pass the folder holding {CA_CERT_NAME}"
        )
    cert = load_certificates(cert_path)[0]
    if not is_ca(cert):
        raise UserError(
            f"{cert_path}: is not a CA certificate (no CA basic constraint); "
            "pass a folder made by `certs ca`"
        )
    if not key_path.exists():
        raise UserError(f"{key_path}: CA key not found; the CA folder needs {CA_KEY_NAME}")
    check_ca_key_mode(key_path)
    key = keys.load_private_key(key_path, _as_bytes(passphrase))
    if not keys.public_keys_equal(key.public_key(), cert.public_key()):
        raise UserError(
            f"{key_path}: does not match {cert_path} (a different key); "
            "restore the CA's own key or create a new CA"
        )
    chain_path = ca_dir / CA_CHAIN_NAME
    chain = load_certificates(chain_path) if chain_path.exists() else [cert]
    if chain[0] != cert:
        chain = [cert]
    check_issuer_strength(chain, cert_path)
    return CertificateAuthority(ca_dir, cert, key, chain)


def check_ca_key_mode(key_path: Path) -> None:
    """Refuse a CA key that group or others may read, as OpenSSH refuses such keys.

    Whoever reads it can issue a certificate for any device id of the group; a warning would
    scroll past in a long `fleet mint`. Skipped where files carry no POSIX modes (Windows).
    """
    if os.name == "nt":
        return
    mode = stat.S_IMODE(key_path.stat().st_mode)
    if mode & 0o077:
        raise UserError(
            f"{key_path}: the CA key is readable by group or others ({mode:04o}), so anyone on "
            f"this machine could sign devices; run `chmod 600 {key_path}` (and if others may have "
            "copied it, create a new CA)"
        )


def check_issuer_strength(chain: list, cert_path) -> None:
    """Refuse a CA whose certificate, or an issuer above it, is weak (see issuer_weakness)."""
    for cert in chain:
        weakness = issuer_weakness(cert)
        if weakness:
            raise UserError(
                f"{cert_path}: CA {cert.subject.rfc4514_string()!r} has {weakness}, which IoT "
                "Hub and TLS libraries refuse; create a new CA with `certs ca` (ec256 or rsa2048+)"
            )


def _days_until(when: datetime.datetime, now: datetime.datetime) -> int:
    return int((when - now).total_seconds() // 86400)


def check_within_issuer(issuer: x509.Certificate, issuer_path, days: int, now=None):
    """Refuse a validity that would end after the issuer's own (the chain would break first)."""
    if days < 1:
        raise UserError(f"--days {days}: a certificate must be valid for at least 1 day")
    now = now or _now()
    not_after = now + datetime.timedelta(days=days)
    issuer_end = issuer.not_valid_after_utc
    if issuer_end <= now:
        raise UserError(
            f"{issuer_path}: the CA expired on {issuer_end:%Y-%m-%d}; create or renew the CA first"
        )
    if not_after > issuer_end:
        raise UserError(
            f"--days {days} ends on {not_after:%Y-%m-%d}, after the CA {issuer_path} expires on "
            f"{issuer_end:%Y-%m-%d}; use --days {_days_until(issuer_end, now)} or less"
        )
    return not_after


def validity_end(days, default_days: int, now, issuer=None, issuer_path=None):
    """The not-after of a new certificate.

    An explicit `days` is refused if it would end after the issuer's own validity; the default
    (`days` None) is `default_days`, shortened to end with the issuer when it expires sooner.
    """
    if days is not None:
        if issuer is not None:
            return check_within_issuer(issuer, issuer_path, days, now)
        if days < 1:
            raise UserError(f"--days {days}: a certificate must be valid for at least 1 day")
        return now + datetime.timedelta(days=days)
    not_after = now + datetime.timedelta(days=default_days)
    if issuer is None:
        return not_after
    if issuer.not_valid_after_utc <= now:
        raise UserError(
            f"{issuer_path}: the CA expired on {issuer.not_valid_after_utc:%Y-%m-%d}; "
            "create or renew the CA first"
        )
    return min(not_after, issuer.not_valid_after_utc)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(**flags) -> x509.KeyUsage:
    names = (
        "digital_signature content_commitment key_encipherment data_encipherment "
        "key_agreement key_cert_sign crl_sign encipher_only decipher_only"
    ).split()
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})


def build_certificate(
    subject: x509.Name,
    public_key,
    issuer_name: x509.Name,
    issuer_key,
    not_after: datetime.datetime,
    *,
    ca_path_length=None,
    is_ca_cert=False,
    eku=None,
    san=None,
    now=None,
) -> x509.Certificate:
    """Sign one certificate with the extensions our profiles use (CA, server or client)."""
    now = now or _now()
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    if is_ca_cert:
        usage = _key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True)
    else:
        usage = _key_usage(digital_signature=True, key_encipherment=is_rsa)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca_cert, path_length=ca_path_length), True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, keys.signing_hash(issuer_key))


def create_ca(
    out_dir,
    common_name: str = "",
    key_type: str = keys.DEFAULT_KEY_TYPE,
    parent_dir=None,
    days: int | None = None,
    passphrase=None,
    parent_passphrase=None,
    force: bool = False,
) -> CAFiles:
    """Create a root CA in `out_dir`, or an intermediate CA signed by the CA in `parent_dir`.

    Writes `ca.crt.pem`, `ca.key.pem` (0600; encrypted when `passphrase` is given) and
    `ca.chain.pem`. A root has no path-length limit; an intermediate gets its parent's limit
    minus one (0 under a root), so it can sign devices but no further CAs.
    """
    keys.check_key_type(key_type)
    out_dir = Path(out_dir)
    targets = [out_dir / CA_CERT_NAME, out_dir / CA_KEY_NAME, out_dir / CA_CHAIN_NAME]
    refuse_existing(targets, force)
    now = _now()
    parent = None
    if parent_dir is not None:
        parent = load_ca(parent_dir, parent_passphrase)
        parent_limit = parent.cert.extensions.get_extension_for_class(
            x509.BasicConstraints
        ).value.path_length
        if parent_limit == 0:
            raise UserError(
                f"{parent.cert_path}: its path length is 0, so it may not sign another CA; "
                "sign the intermediate with the root CA instead"
            )
        path_length = 0 if parent_limit is None else parent_limit - 1
        not_after = validity_end(days, DEFAULT_DAYS["ca"], now, parent.cert, parent.cert_path)
    else:
        path_length = None
        not_after = validity_end(days, DEFAULT_DAYS["ca"], now)
    if not common_name:
        common_name = "Device Intermediate CA" if parent else "Device Root CA"
    key = keys.generate_key(key_type)
    subject = _name(common_name)
    cert = build_certificate(
        subject,
        key.public_key(),
        parent.cert.subject if parent else subject,
        parent.key if parent else key,
        not_after,
        ca_path_length=path_length,
        is_ca_cert=True,
        now=now,
    )
    chain = [cert] + (parent.chain if parent else [])
    ensure_private_dir(out_dir)
    write_key(targets[1], keys.key_to_pem(key, _as_bytes(passphrase)))
    write_file(targets[0], cert_to_pem(cert))
    write_file(targets[2], b"".join(cert_to_pem(c) for c in chain))
    sha1, sha256 = thumbprints(cert)
    return CAFiles(targets[0], targets[1], targets[2], sha1, sha256, cert.not_valid_after_utc)


def _san_entries(hostnames) -> list:
    entries = []
    for host in hostnames:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            entries.append(x509.DNSName(host))
    return entries


def create_server_cert(
    ca_dir,
    out_dir,
    hostnames=("localhost",),
    days: int | None = None,
    key_type: str = keys.DEFAULT_KEY_TYPE,
    ca_passphrase=None,
    force: bool = False,
) -> ServerFiles:
    """A TLS server certificate (serverAuth, SAN DNS names and IP addresses) signed by a CA.

    Writes `server.crt.pem`, `server.key.pem` (0600) and `server.chain.pem` (the server
    certificate followed by every CA up to the root) into `out_dir`.
    """
    hostnames = [h for h in hostnames if h]
    if not hostnames:
        raise UserError("a server certificate needs at least one host name; pass --host NAME")
    keys.check_key_type(key_type)
    out_dir = Path(out_dir)
    targets = [out_dir / f"server.{n}.pem" for n in ("crt", "key", "chain")]
    refuse_existing(targets, force)
    ca = load_ca(ca_dir, ca_passphrase)
    now = _now()
    not_after = validity_end(days, DEFAULT_DAYS["server"], now, ca.cert, ca.cert_path)
    key = keys.generate_key(key_type)
    cert = build_certificate(
        _name(hostnames[0]),
        key.public_key(),
        ca.cert.subject,
        ca.key,
        not_after,
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
        san=_san_entries(hostnames),
        now=now,
    )
    ensure_private_dir(out_dir)
    write_key(targets[1], keys.key_to_pem(key))
    write_file(targets[0], cert_to_pem(cert))
    write_file(targets[2], b"".join(cert_to_pem(c) for c in [cert, *ca.chain]))
    return ServerFiles(targets[0], targets[1], targets[2])


def device_file_names(secondary: bool = False) -> dict[str, str]:
    """File names of a device identity in its folder, by role."""
    stem = "secondary" if secondary else "device"
    return {
        "cert_der": f"{stem}.crt.der",
        "key_der": f"{stem}.key.der",
        "cert_pem": f"{stem}.crt.pem",
        "key_pem": f"{stem}.key.pem",
        "chain_pem": "secondary.chain.pem" if secondary else "chain.pem",
    }


def issue_device_certificate(device_id: str, key, ca: CertificateAuthority | None, not_after, now):
    """The device certificate for `key`: CN = device id, clientAuth; self-signed if no CA."""
    subject = _name(device_id)
    return build_certificate(
        subject,
        key.public_key(),
        ca.cert.subject if ca else subject,
        ca.key if ca else key,
        not_after,
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        now=now,
    )


def device_file_contents(cert, key, ca: CertificateAuthority | None) -> dict[str, bytes]:
    """Bytes of each device file by role (see `device_file_names`); no chain when self-signed."""
    cert_pem = cert_to_pem(cert)
    contents = {
        "key_der": keys.key_to_der(key),
        "key_pem": keys.key_to_pem(key),
        "cert_der": cert_to_der(cert),
        "cert_pem": cert_pem,
    }
    if ca is not None:
        contents["chain_pem"] = cert_pem + b"".join(cert_to_pem(c) for c in ca.chain)
    return contents


def write_device_files(out_dir: Path, names: dict, contents: dict) -> None:
    """Write device files, keys first (0600) so a certificate never exists without its key."""
    for role in ("key_der", "key_pem", "cert_der", "cert_pem", "chain_pem"):
        if role in contents:
            writer = write_key if role.startswith("key") else write_file
            writer(out_dir / names[role], contents[role])


def create_device_cert(
    device_id: str,
    out_dir,
    ca_dir=None,
    self_signed: bool = False,
    days: int | None = None,
    key_type: str = keys.DEFAULT_KEY_TYPE,
    secondary: bool = False,
    ca_passphrase=None,
    force: bool = False,
) -> DeviceFiles:
    """A device identity: CN = device id, clientAuth, CA-signed (`ca_dir`) or self-signed.

    Writes the DER files the device loads, the PEM files humans and the hub read, and
    `chain.pem` when CA-signed. Returns the paths and both thumbprints.
    """
    check_device_id(device_id)
    keys.check_key_type(key_type)
    if (ca_dir is None) == (not self_signed):
        raise UserError("pass exactly one of --ca CA_DIR or --self-signed")
    out_dir = Path(out_dir)
    names = device_file_names(secondary)
    paths = {role: out_dir / name for role, name in names.items()}
    refuse_existing(paths.values(), force)
    now = _now()
    ca = None
    if ca_dir is not None:
        ca = load_ca(ca_dir, ca_passphrase)
        not_after = validity_end(days, DEFAULT_DAYS["device"], now, ca.cert, ca.cert_path)
    else:
        not_after = validity_end(days, DEFAULT_DAYS["device"], now)
    key = keys.generate_key(key_type)
    cert = issue_device_certificate(device_id, key, ca, not_after, now)
    ensure_private_dir(out_dir)
    if ca is None and paths["chain_pem"].exists() and force:
        paths["chain_pem"].unlink()  # a stale chain of an earlier CA-signed identity
    write_device_files(out_dir, names, device_file_contents(cert, key, ca))
    sha1, sha256 = thumbprints(cert)
    return DeviceFiles(
        device_id,
        paths["cert_der"],
        paths["key_der"],
        paths["cert_pem"],
        paths["key_pem"],
        paths["chain_pem"] if ca else None,
        sha1,
        sha256,
        cert.not_valid_after_utc,
    )


def create_verification_cert(
    ca_dir, code: str, out_path, days: int | None = None, ca_passphrase=None, force=False
) -> Path:
    """Proof of possession: a certificate with CN = the hub's verification code, signed by the CA.

    Upload the written PEM to the hub's CA verification step. Its own key is thrown away.
    """
    code = (code or "").strip()
    if not code or len(code) > MAX_VERIFICATION_CODE_LENGTH or any(c.isspace() for c in code):
        raise UserError(
            f"verification code {code!r}: expected the code the hub shows (1 to "
            f"{MAX_VERIFICATION_CODE_LENGTH} characters, no spaces); copy it again"
        )
    out_path = Path(out_path)
    if out_path.is_dir():
        out_path = out_path / "verification.crt.pem"
    refuse_existing([out_path], force)
    ca = load_ca(ca_dir, ca_passphrase)
    now = _now()
    not_after = validity_end(days, DEFAULT_DAYS["verification"], now, ca.cert, ca.cert_path)
    key = keys.generate_key(keys.DEFAULT_KEY_TYPE)
    cert = build_certificate(
        _name(code),
        key.public_key(),
        ca.cert.subject,
        ca.key,
        not_after,
        eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        now=now,
    )
    if not out_path.parent.exists():
        ensure_private_dir(out_path.parent)
    return write_file(out_path, cert_to_pem(cert))
