"""Reading certificates (PEM, DER, bundles) and computing the thumbprints IoT Hub registers."""

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from host_tools.errors import UserError

from ._files import read_file
from .keys import MIN_RSA_BITS

WEAK_SIGNATURE_HASHES = ("sha1", "md5")


def parse_certificates(data: bytes, source="input") -> list[x509.Certificate]:
    """Every certificate in PEM (one or more) or DER `data`; UserError naming `source` if none."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise UserError(f"{source}: not a certificate (PEM or DER); check the file") from None


def load_certificates(path) -> list[x509.Certificate]:
    """Every certificate in the file at `path`."""
    return parse_certificates(read_file(path, "certificate"), path)


def load_certificate(path) -> x509.Certificate:
    """The first certificate in the file at `path`."""
    return load_certificates(path)[0]


def as_certificate(cert) -> x509.Certificate:
    """A Certificate from a Certificate, a path (str or Path), PEM bytes or DER bytes."""
    if isinstance(cert, x509.Certificate):
        return cert
    if isinstance(cert, (bytes, bytearray, memoryview)):
        return parse_certificates(bytes(cert))[0]
    return load_certificate(Path(cert))


def thumbprints(cert) -> tuple[str, str]:
    """(SHA-1, SHA-256) thumbprints: uppercase hex, no colons, as IoT Hub registers them.

    `cert` is a Path, PEM bytes, DER bytes or a cryptography Certificate.
    """
    cert = as_certificate(cert)
    return cert.fingerprint(hashes.SHA1()).hex().upper(), cert.fingerprint(
        hashes.SHA256()
    ).hex().upper()


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def common_name(name: x509.Name) -> str | None:
    """The first CN of a Name, or None."""
    attrs = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def is_ca(cert: x509.Certificate) -> bool:
    """Whether `cert` carries the CA basic constraint."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def issuer_weakness(cert: x509.Certificate) -> str | None:
    """Why `cert` is too weak to issue certificates (RSA under 2048 bits, SHA-1/MD5), or None.

    IoT Hub, mbedTLS and OpenSSL's default security level refuse chains through such a CA, and
    its signatures can be forged: a weak CA is an open door to the whole group.
    """
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < MIN_RSA_BITS:
        return f"an RSA key of {public_key.key_size} bits (under {MIN_RSA_BITS}, breakable)"
    algorithm = cert.signature_hash_algorithm
    if algorithm is not None and algorithm.name in WEAK_SIGNATURE_HASHES:
        return f"a {algorithm.name.upper()} signature (collisions are practical)"
    return None
