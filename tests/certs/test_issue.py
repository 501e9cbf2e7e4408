import os
import stat

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from host_tools.certs import (
    create_ca,
    create_device_cert,
    create_server_cert,
    create_verification_cert,
    load_ca,
    load_certificate,
    load_certificates,
)
from host_tools.errors import UserError
from tests.certs.conftest import run_openssl, write_weak_ca


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _constraints(cert):
    return cert.extensions.get_extension_for_class(x509.BasicConstraints).value


def test_create_ca_root_has_ca_constraint_and_cert_sign_usage(root_ca):
    cert = load_certificate(root_ca / "ca.crt.pem")
    assert _constraints(cert).ca is True
    assert _constraints(cert).path_length is None
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign


def test_create_ca_key_file_0600_and_folder_0700(tmp_path):
    files = create_ca(tmp_path / "new" / "ca")
    assert _mode(files.key_pem) == 0o600
    assert _mode(tmp_path / "new" / "ca") == 0o700
    assert _mode(files.cert_pem) == 0o644


def test_create_ca_intermediate_path_length_zero_and_verifies(root_ca, intermediate_ca):
    cert = load_certificate(intermediate_ca / "ca.crt.pem")
    assert _constraints(cert).path_length == 0
    assert len(load_certificates(intermediate_ca / "ca.chain.pem")) == 2
    out = run_openssl("verify", "-CAfile", root_ca / "ca.crt.pem", intermediate_ca / "ca.crt.pem")
    assert out.returncode == 0, out.stderr


def test_create_ca_under_path_length_zero_refused(intermediate_ca, tmp_path):
    with pytest.raises(UserError, match="path length is 0"):
        create_ca(tmp_path / "sub", parent_dir=intermediate_ca)


def test_create_ca_days_beyond_parent_refused(root_ca, tmp_path):
    with pytest.raises(UserError, match="after the CA"):
        create_ca(tmp_path / "long", parent_dir=root_ca, days=20000)
    assert not (tmp_path / "long").exists()


@pytest.mark.parametrize(("key_type", "hash_name"), [("ec384", "sha384"), ("rsa2048", "sha256")])
def test_create_ca_key_type_sets_key_and_signature(tmp_path, key_type, hash_name):
    files = create_ca(tmp_path / "ca", key_type=key_type)
    cert = load_certificate(files.cert_pem)
    assert cert.signature_hash_algorithm.name == hash_name


def test_create_ca_existing_without_force_refused_and_force_replaces(tmp_path):
    first = create_ca(tmp_path / "ca")
    with pytest.raises(UserError, match="--force"):
        create_ca(tmp_path / "ca")
    second = create_ca(tmp_path / "ca", force=True)
    assert first.sha256 != second.sha256


def test_load_ca_encrypted_with_passphrase_loads(encrypted_ca):
    folder, _ = encrypted_ca
    ca = load_ca(folder, "correct horse battery staple")
    assert ca.cert.subject == ca.chain[0].subject


def test_load_ca_wrong_passphrase_names_key_file(encrypted_ca):
    folder, _ = encrypted_ca
    with pytest.raises(UserError, match="ca.key.pem: wrong passphrase"):
        load_ca(folder, "nope")


def test_load_ca_not_a_ca_certificate_refused(tmp_path):
    device = create_device_cert("dev", tmp_path / "dev", self_signed=True)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "ca.crt.pem").write_bytes(device.cert_pem.read_bytes())
    (fake / "ca.key.pem").write_bytes(device.key_pem.read_bytes())
    with pytest.raises(UserError, match="not a CA certificate"):
        load_ca(fake)


def test_load_ca_mismatched_key_refused(tmp_path):
    create_ca(tmp_path / "a")
    create_ca(tmp_path / "b")
    (tmp_path / "a" / "ca.key.pem").write_bytes((tmp_path / "b" / "ca.key.pem").read_bytes())
    with pytest.raises(UserError, match="does not match"):
        load_ca(tmp_path / "a")


def test_create_device_cert_ca_signed_cn_eku_chain_verify(intermediate_ca, root_ca, tmp_path):
    files = create_device_cert("sensor-1", tmp_path / "dev", ca_dir=intermediate_ca)
    cert = load_certificate(files.cert_der)
    assert cert.subject.rfc4514_string() == "CN=sensor-1"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert len(load_certificates(files.chain_pem)) == 3
    out = run_openssl(
        "verify",
        "-purpose",
        "sslclient",
        "-CAfile",
        root_ca / "ca.crt.pem",
        "-untrusted",
        files.chain_pem,
        files.cert_pem,
    )
    assert out.returncode == 0, out.stderr
    assert _mode(files.key_der) == 0o600 and _mode(files.key_pem) == 0o600


def test_create_device_cert_self_signed_has_no_chain(tmp_path):
    files = create_device_cert("sensor-2", tmp_path / "dev", self_signed=True)
    assert files.chain_pem is None
    assert not (tmp_path / "dev" / "chain.pem").exists()
    cert = load_certificate(files.cert_pem)
    assert cert.issuer == cert.subject


def test_create_device_cert_secondary_uses_secondary_names(root_ca, tmp_path):
    primary = create_device_cert("sensor-3", tmp_path, ca_dir=root_ca)
    secondary = create_device_cert("sensor-3", tmp_path, ca_dir=root_ca, secondary=True)
    assert secondary.cert_der.name == "secondary.crt.der"
    assert secondary.chain_pem.name == "secondary.chain.pem"
    assert primary.sha256 != secondary.sha256
    assert primary.cert_der.exists()


def test_create_device_cert_days_beyond_ca_refused_with_limit(tmp_path):
    create_ca(tmp_path / "ca", days=100)
    with pytest.raises(UserError, match=r"use --days (99|100) or less"):
        create_device_cert("d", tmp_path / "dev", ca_dir=tmp_path / "ca", days=365)


def test_create_device_cert_invalid_id_writes_nothing(root_ca, tmp_path):
    with pytest.raises(UserError, match="not valid"):
        create_device_cert("bad/id", tmp_path / "dev", ca_dir=root_ca)
    assert not (tmp_path / "dev").exists()


def test_create_device_cert_neither_ca_nor_self_signed_refused(tmp_path):
    with pytest.raises(UserError, match="exactly one"):
        create_device_cert("d", tmp_path)


def test_create_device_cert_existing_refused_without_force(root_ca, tmp_path):
    create_device_cert("d", tmp_path, ca_dir=root_ca)
    key_before = (tmp_path / "device.key.der").read_bytes()
    with pytest.raises(UserError, match="device.crt.der: already exists"):
        create_device_cert("d", tmp_path, ca_dir=root_ca)
    assert (tmp_path / "device.key.der").read_bytes() == key_before


def test_create_server_cert_san_and_server_auth_verify(root_ca, tmp_path):
    files = create_server_cert(root_ca, tmp_path / "srv", hostnames=("localhost", "127.0.0.1"))
    cert = load_certificate(files.cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    out = run_openssl(
        "verify",
        "-purpose",
        "sslserver",
        "-verify_hostname",
        "localhost",
        "-CAfile",
        root_ca / "ca.crt.pem",
        files.cert_pem,
    )
    assert out.returncode == 0, out.stderr
    assert len(load_certificates(files.chain_pem)) == 2


def test_create_verification_cert_cn_is_code_signed_by_ca(root_ca, tmp_path):
    path = create_verification_cert(root_ca, "0A1B2C3D4E5F", tmp_path / "verify.pem")
    cert = load_certificate(path)
    assert cert.subject.rfc4514_string() == "CN=0A1B2C3D4E5F"
    out = run_openssl("verify", "-CAfile", root_ca / "ca.crt.pem", path)
    assert out.returncode == 0, out.stderr


def test_create_verification_cert_code_with_space_refused(root_ca, tmp_path):
    with pytest.raises(UserError, match="verification code"):
        create_verification_cert(root_ca, "AB CD", tmp_path / "v.pem")


def test_create_ca_intermediate_default_days_clipped_to_parent(tmp_path):
    root = create_ca(tmp_path / "root", days=100)
    child = create_ca(tmp_path / "child", parent_dir=tmp_path / "root")
    assert child.not_after == root.not_after


def test_create_device_cert_default_days_clipped_to_short_ca(tmp_path):
    ca = create_ca(tmp_path / "ca", days=30)
    files = create_device_cert("d", tmp_path / "dev", ca_dir=tmp_path / "ca")
    assert files.not_after == ca.not_after


def test_load_ca_given_ca_cert_file_uses_its_folder(root_ca):
    assert load_ca(root_ca / "ca.crt.pem").directory == root_ca


def test_load_ca_other_file_refused(root_ca, tmp_path):
    with pytest.raises(UserError, match="pass the CA folder"):
        load_ca(root_ca / "ca.chain.pem")


def test_create_device_cert_expired_ca_refused(tmp_path):
    import datetime

    from host_tools.certs import issue, keys
    from host_tools.certs.certfiles import cert_to_pem

    key = keys.generate_key("ec256")
    name = issue._name("Old CA")
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    cert = issue.build_certificate(
        name, key.public_key(), name, key, past + datetime.timedelta(days=30),
        is_ca_cert=True, now=past,
    )  # fmt: skip
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "ca.crt.pem").write_bytes(cert_to_pem(cert))
    (folder / "ca.key.pem").write_bytes(keys.key_to_pem(key))
    os.chmod(folder / "ca.key.pem", 0o600)  # load_ca refuses a CA key others may read
    with pytest.raises(UserError, match="the CA expired on"):
        create_device_cert("d", tmp_path / "dev", ca_dir=folder)


@pytest.mark.parametrize(
    "weakness, reason", [("rsa1024", "RSA key of 1024 bits"), ("sha1", "SHA1 signature")]
)
def test_create_device_cert_weak_ca_refused_writes_nothing(tmp_path, weakness, reason):
    ca = write_weak_ca(tmp_path / "ca", weakness)
    with pytest.raises(UserError, match=reason) as caught:
        create_device_cert("dev-1", tmp_path / "dev", ca_dir=ca)
    assert "create a new CA" in str(caught.value)
    assert not (tmp_path / "dev").exists()


def test_create_device_cert_strong_intermediate_under_weak_root_refused(tmp_path):
    # the chain a device presents runs through the root too: a weak one breaks it as well
    from host_tools.certs.keys import key_to_pem
    from tests.hub.chains import make_cert, new_key, to_pem

    root_key, key = new_key("rsa1024"), new_key()
    root = make_cert("Weak Root", root_key, ca=True)
    inter = make_cert("Strong Intermediate", key, (root, root_key), ca=True, path_length=0)
    folder = tmp_path / "int"
    folder.mkdir(mode=0o700)
    (folder / "ca.key.pem").write_bytes(key_to_pem(key))
    os.chmod(folder / "ca.key.pem", 0o600)
    (folder / "ca.crt.pem").write_text(to_pem(inter))
    (folder / "ca.chain.pem").write_text(to_pem(inter) + to_pem(root))
    with pytest.raises(UserError, match="Weak Root.*RSA key of 1024 bits"):
        create_device_cert("dev-1", tmp_path / "dev", ca_dir=folder)


def test_load_ca_key_readable_by_others_refused(tmp_path):
    create_ca(tmp_path / "ca")
    os.chmod(tmp_path / "ca" / "ca.key.pem", 0o644)
    with pytest.raises(UserError, match="readable by group or others \\(0644\\).*chmod 600"):
        create_device_cert("dev-1", tmp_path / "dev", ca_dir=tmp_path / "ca")
    assert not (tmp_path / "dev").exists()
