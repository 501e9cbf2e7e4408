"""Fixtures for the credentials toolkit: CAs made once per session, the CLI run in-process."""

import datetime
import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import host_tools.cli
from host_tools.certs import create_ca


@pytest.fixture(scope="session")
def root_ca(tmp_path_factory):
    """A root CA folder (EC P-256, unencrypted key)."""
    folder = tmp_path_factory.mktemp("pki") / "root"
    create_ca(folder, common_name="Test Root CA")
    return folder


@pytest.fixture(scope="session")
def intermediate_ca(root_ca, tmp_path_factory):
    """An intermediate CA folder signed by `root_ca`."""
    folder = tmp_path_factory.mktemp("pki") / "intermediate"
    create_ca(folder, common_name="Test Intermediate CA", parent_dir=root_ca)
    return folder


@pytest.fixture(scope="session")
def encrypted_ca(tmp_path_factory):
    """(CA folder, passphrase file) of a root CA whose key is encrypted."""
    base = tmp_path_factory.mktemp("pki")
    passphrase_file = base / "passphrase.txt"
    passphrase_file.write_text("correct horse battery staple\n")
    create_ca(base / "locked", passphrase="correct horse battery staple")
    return base / "locked", passphrase_file


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run `python -m host_tools ARGS` in-process with only our command groups registered.

    Returns (exit code, stdout, stderr). Other groups are left out so their state never
    decides the result of a credentials test.
    """
    monkeypatch.setattr(host_tools.cli, "COMMAND_MODULES", ("host_tools.certs.cli",))
    monkeypatch.setattr(host_tools.cli, "_GROUPS", {})

    def run(*argv):
        code = host_tools.cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def openssl():
    path = shutil.which("openssl")
    if path is None:
        pytest.fail("the openssl CLI is missing: install it (apt-get install openssl)")
    return path


def run_openssl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=30)


def write_custom_cert(
    path,
    common_name="sensor-1",
    days_before=1,
    days_after=365,
    eku=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    key=None,
):
    """A self-signed end-entity certificate with the chosen flaws; returns (cert path, key)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=days_before))
        .not_valid_after(now + datetime.timedelta(days=days_after))
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key


def write_weak_ca(folder, weakness):
    """A CA folder (as `certs ca` lays it out) whose CA is weak: "rsa1024" or "sha1"."""
    from host_tools.certs._files import ensure_private_dir, write_file, write_key
    from host_tools.certs.keys import key_to_pem
    from tests.hub.chains import make_cert, new_key, resign_sha1, to_pem

    key = new_key("rsa1024" if weakness == "rsa1024" else "ec256")
    cert = make_cert(f"Weak {weakness} CA", key, ca=True)
    if weakness == "sha1":
        cert = resign_sha1(cert, key)
    ensure_private_dir(folder)
    write_key(folder / "ca.key.pem", key_to_pem(key))
    write_file(folder / "ca.crt.pem", to_pem(cert).encode())
    return folder
