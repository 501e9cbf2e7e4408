"""Hand-built certificate chains for the hub's X.509 tests, with the flaws a forger would use.

`make_cert` signs one certificate with exactly the extensions asked for, so a test can build
what our own tools never issue: a leaf that signs another leaf, a CA without keyCertSign, an
RSA-1024 or SHA-1 CA, an expired intermediate.
"""

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
DAY = datetime.timedelta(days=1)
_USAGES = (
    "digital_signature content_commitment key_encipherment data_encipherment "
    "key_agreement key_cert_sign crl_sign encipher_only decipher_only"
).split()


def new_key(kind="ec256"):
    if kind.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_cert(
    common_name,
    key,
    issuer=None,
    *,
    ca=False,
    path_length=None,
    usage=None,
    not_before=None,
    not_after=None,
    eku=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    hash_algorithm=None,
    basic_constraints=True,
):
    """One certificate for `key`, signed by `issuer` = (certificate, key), or self-signed.

    `usage`: the KeyUsage flags set, default keyCertSign + cRLSign for a CA and
    digitalSignature for a leaf; `eku` applies to leaves only (None: no EKU extension).
    """
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    if usage is None:
        usage = ("digital_signature", "key_cert_sign", "crl_sign") if ca else ("digital_signature",)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 30 * DAY)
        .add_extension(x509.KeyUsage(**{u: u in usage for u in _USAGES}), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca, path_length), critical=True)
    if eku and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(issuer_key, hash_algorithm or hashes.SHA256())


def to_pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def resign_sha1(cert, issuer_key):
    """`cert` signed again with SHA-1: `cryptography` no longer signs with it, pyOpenSSL does."""
    import warnings

    from OpenSSL import crypto

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pyOpenSSL's X509 signing API
        legacy = crypto.X509.from_cryptography(cert)
        legacy.sign(crypto.PKey.from_cryptography_key(issuer_key), "sha1")
        return legacy.to_cryptography()
