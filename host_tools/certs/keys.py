"""Private keys: the key types we offer, generating, serialising and loading them."""

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from host_tools.errors import UserError

from ._files import read_file

KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096")
DEFAULT_KEY_TYPE = "ec256"
MIN_RSA_BITS = 2048

_CURVES = {"ec256": ec.SECP256R1, "ec384": ec.SECP384R1}


def check_key_type(key_type: str) -> str:
    """Return `key_type` or raise a UserError listing the valid ones (RSA < 2048 is refused)."""
    if key_type in KEY_TYPES:
        return key_type
    if key_type.startswith("rsa") and key_type[3:].isdigit() and int(key_type[3:]) < MIN_RSA_BITS:
        raise UserError(
            f"key type {key_type}: RSA keys under {MIN_RSA_BITS} bits are refused as too weak; "
            f"use one of {', '.join(KEY_TYPES)}"
        )
    raise UserError(f"key type {key_type!r} is unknown; use one of {', '.join(KEY_TYPES)}")


def generate_key(key_type: str = DEFAULT_KEY_TYPE):
    """A new private key of `key_type` (ec256, ec384, rsa2048, rsa3072, rsa4096)."""
    check_key_type(key_type)
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type]())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))


def describe_public_key(public_key) -> tuple[str, int]:
    """(algorithm name, size in bits) of a public key, e.g. ("EC P-256", 256), ("RSA", 2048)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        names = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"EC {names.get(public_key.curve.name, public_key.curve.name)}", public_key.key_size
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RSA", public_key.key_size
    return type(public_key).__name__.replace("PublicKey", "").lstrip("_"), 0


def signing_hash(private_key):
    """The hash an issuer with this key signs with: SHA-384 for P-384, SHA-256 otherwise."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def key_to_pem(private_key, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with `passphrase` when given."""
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def key_to_der(private_key) -> bytes:
    """Unencrypted PKCS#8 DER: what the device loads (mbedTLS `pk_parse_key` reads it)."""
    return private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def parse_private_key(data: bytes, path, passphrase: bytes | None = None):
    """A private key from PEM or DER bytes read from `path`; errors name `path`, never the key."""
    is_pem = b"-----BEGIN" in data
    if is_pem and b"ENCRYPTED" in data and not passphrase:
        raise UserError(f"{path}: the key is encrypted; pass --passphrase-file with its passphrase")
    loader = serialization.load_pem_private_key if is_pem else serialization.load_der_private_key
    try:
        return loader(data, password=passphrase if passphrase else None)
    except TypeError:
        if passphrase:
            # given a passphrase for a key that has none: load it without
            return loader(data, password=None)
        raise UserError(
            f"{path}: the key is encrypted; pass --passphrase-file with its passphrase"
        ) from None
    except ValueError:
        if passphrase and (is_pem and b"ENCRYPTED" in data):
            raise UserError(
                f"{path}: wrong passphrase for this key; check --passphrase-file"
            ) from None
        raise UserError(
            f"{path}: not a private key (PEM or DER) or the passphrase is wrong; check the file"
        ) from None
    except Exception:  # unsupported algorithms and the like: still never echo key bytes
        raise UserError(f"{path}: cannot read this private key; check the file") from None


def load_private_key(path, passphrase: bytes | None = None):
    """Load a private key file (PEM or DER, PKCS#8/SEC1/PKCS#1), decrypting with `passphrase`."""
    return parse_private_key(read_file(path, "key file"), path, passphrase)


def public_keys_equal(a, b) -> bool:
    """Whether two public keys are the same key."""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return a.public_bytes(enc, fmt) == b.public_bytes(enc, fmt)
