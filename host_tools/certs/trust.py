"""The server trust bundle a device loads: the roots IoT Hub presents, plus any private CA.

The two public roots ship in `roots/` (public data, copied from Debian's `ca-certificates`) and
are pinned by SHA-256, so a tampered or swapped file is refused. When a shipped copy is missing,
the system copy in /etc/ssl/certs is used, under the same pin.
"""

from pathlib import Path

from host_tools.errors import UserError

from ._files import ensure_private_dir, write_file
from .certfiles import cert_to_pem, load_certificates, thumbprints

ROOTS_DIR = Path(__file__).with_name("roots")
SYSTEM_CERTS_DIR = Path("/etc/ssl/certs")

# file name (Debian's) -> SHA-256 fingerprint of the certificate
AZURE_ROOTS = {
    "DigiCert_Global_Root_G2.pem": (
        "CB3CCBB76031E5E0138F8DD39A23F9DE47FFC35E43C1144CEA27D46A5AB1CB5F"
    ),
    "Microsoft_RSA_Root_Certificate_Authority_2017.pem": (
        "C741F70F4B2A8D88BF2E71C14122EF53EF10EBA0CFA5E64CFA20F418853073E0"
    ),
}


def _pinned_root(name: str, pin: str, search_dirs) -> bytes:
    """PEM of the root `name` from the first folder whose copy matches `pin`."""
    mismatched = []
    for folder in search_dirs:
        path = Path(folder) / name
        if not path.exists():
            continue
        cert = load_certificates(path)[0]
        if thumbprints(cert)[1] == pin:
            return cert_to_pem(cert)
        mismatched.append(str(path))
    if mismatched:
        raise UserError(
            f"{mismatched[0]}: its SHA-256 fingerprint is not the pinned {pin[:16]}...; "
            "reinstall it with `apt-get install --reinstall ca-certificates`"
        )
    raise UserError(
        f"{SYSTEM_CERTS_DIR / name}: root certificate not found; "
        "install it with `apt-get install ca-certificates`"
    )


def azure_roots_pem(search_dirs=(ROOTS_DIR, SYSTEM_CERTS_DIR)) -> bytes:
    """PEM of DigiCert Global Root G2 and Microsoft RSA Root CA 2017, checked against the pins."""
    return b"".join(_pinned_root(name, pin, search_dirs) for name, pin in AZURE_ROOTS.items())


def _extra_ca_pem(source) -> bytes:
    path = Path(source)
    if path.is_dir():
        for name in ("ca.crt.pem", "server.chain.pem"):
            if (path / name).exists():
                path = path / name
                break
        else:
            raise UserError(
                f"{path}: no ca.crt.pem in this folder; pass a CA certificate file or a CA folder"
            )
    return b"".join(cert_to_pem(c) for c in load_certificates(path))


def write_trust_bundle(
    out_path, extra_ca=(), include_azure_roots: bool = True, force: bool = True
) -> Path:
    """Write the PEM bundle a device trusts (`certs/trust.pem`): Azure roots + `extra_ca`.

    `extra_ca` holds certificate files (PEM or DER, one or more certificates) or CA folders,
    e.g. the hub emulator's CA. Duplicates are written once. An existing bundle is replaced only
    with `force` (the CLI's --force): it may hold a CA the new one lacks.
    """
    out_path = Path(out_path)
    if out_path.is_dir():
        out_path = out_path / "trust.pem"
    if out_path.exists() and not force:
        raise UserError(f"{out_path} exists: pass --force to replace it (or write another file)")
    parts = []
    if include_azure_roots:
        parts.append(azure_roots_pem())
    for source in extra_ca:
        parts.append(_extra_ca_pem(source))
    if not parts:
        raise UserError("the trust bundle would be empty; keep the Azure roots or pass --extra-ca")
    seen, unique = set(), []
    for pem in b"".join(parts).split(b"-----END CERTIFICATE-----"):
        block = pem.strip()
        if block and block not in seen:
            seen.add(block)
            unique.append(block + b"\n-----END CERTIFICATE-----\n")
    if not out_path.parent.exists():
        ensure_private_dir(out_path.parent)
    return write_file(out_path, b"".join(unique))
