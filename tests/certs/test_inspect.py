import os

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from host_tools.certs import create_ca, create_device_cert
from host_tools.certs.inspect import format_report, inspect_path, live_cert_thumbprint
from host_tools.certs.keys import key_to_pem
from host_tools.errors import UserError
from tests.certs.conftest import run_openssl, write_custom_cert


def _messages(report, level):
    return [f.message for f in report.all_findings() if f.level == level]


def test_inspect_path_clean_device_folder_exit_zero(intermediate_ca, root_ca, tmp_path):
    create_device_cert("sensor-1", tmp_path, ca_dir=intermediate_ca)
    report = inspect_path(tmp_path, ca=root_ca)
    leaf = report.certificates[0]
    assert leaf.role == "device" and leaf.subject == "CN=sensor-1"
    assert leaf.key_matches is True
    assert leaf.chain_verified is True
    assert leaf.key_type == "EC P-256" and leaf.key_bits == 256
    assert report.exit_code == 0, list(report.all_findings())


def test_inspect_path_thumbprints_equal_openssl(root_ca, tmp_path):
    files = create_device_cert("sensor-1", tmp_path, ca_dir=root_ca)
    leaf = inspect_path(files.cert_pem).certificates[0]
    out = run_openssl("x509", "-in", files.cert_pem, "-noout", "-fingerprint", "-sha256")
    assert leaf.sha256 == out.stdout.strip().split("=")[1].replace(":", "")


def test_inspect_path_expired_is_error(tmp_path):
    path, _ = write_custom_cert(tmp_path / "c.pem", days_before=10, days_after=-1)
    report = inspect_path(path)
    assert any("expired" in m for m in _messages(report, "error"))
    assert report.exit_code == 2


def test_inspect_path_not_yet_valid_is_error(tmp_path):
    path, _ = write_custom_cert(tmp_path / "c.pem", days_before=-2, days_after=30)
    report = inspect_path(path)
    assert any("not valid before" in m for m in _messages(report, "error"))


def test_live_cert_thumbprint_valid_is_sha256_expired_is_user_error(tmp_path):
    path, _ = write_custom_cert(tmp_path / "ok.pem", days_before=1, days_after=30)
    assert live_cert_thumbprint(path) == inspect_path(path).certificates[0].sha256
    old, _ = write_custom_cert(tmp_path / "old.pem", days_before=10, days_after=-1)
    with pytest.raises(UserError, match=r"old.pem expired on .*the hub would refuse it"):
        live_cert_thumbprint(old)


def test_inspect_path_expiring_within_30_days_is_warning(tmp_path):
    path, _ = write_custom_cert(tmp_path / "c.pem", days_after=10)
    report = inspect_path(path)
    assert any("expires in" in m for m in _messages(report, "warning"))
    assert report.exit_code == 1


def test_inspect_path_sha1_signature_and_rsa1024_are_errors(tmp_path):
    out = run_openssl(
        "req", "-x509", "-newkey", "rsa:1024", "-sha1", "-nodes", "-subj", "/CN=weak",
        "-days", "90", "-keyout", tmp_path / "weak.key", "-out", tmp_path / "weak.crt",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = inspect_path(tmp_path / "weak.crt")
    errors = _messages(report, "error")
    assert any("SHA1" in m for m in errors)
    assert any("1024 bits" in m for m in errors)
    assert report.certificates[0].key_matches is True  # weak.key found beside weak.crt


def test_inspect_path_cn_not_device_id_is_warning(tmp_path):
    path, _ = write_custom_cert(tmp_path / "c.pem", common_name="has space")
    report = inspect_path(path)
    assert any("not a valid IoT Hub device id" in m for m in _messages(report, "warning"))


def test_inspect_path_eku_without_client_auth_is_error(tmp_path):
    path, _ = write_custom_cert(tmp_path / "c.pem", eku=(ExtendedKeyUsageOID.CODE_SIGNING,))
    report = inspect_path(path)
    assert any("lacks clientAuth" in m for m in _messages(report, "error"))


def test_inspect_path_no_eku_is_warning(tmp_path):
    path, _ = write_custom_cert(tmp_path / "c.pem", eku=None)
    report = inspect_path(path)
    assert any("no extended key usage" in m for m in _messages(report, "warning"))


def test_inspect_path_key_mismatch_is_error(root_ca, tmp_path):
    files = create_device_cert("sensor-1", tmp_path / "a", ca_dir=root_ca)
    other = create_device_cert("sensor-2", tmp_path / "b", ca_dir=root_ca)
    report = inspect_path(files.cert_der, key=other.key_der)
    assert report.certificates[0].key_matches is False
    assert any("does not match" in m for m in _messages(report, "error"))


def test_inspect_path_chain_to_other_ca_is_error(root_ca, tmp_path):
    other = create_ca(tmp_path / "other")
    files = create_device_cert("sensor-1", tmp_path / "dev", ca_dir=root_ca)
    report = inspect_path(files.cert_pem, ca=tmp_path / "other")
    assert report.certificates[0].chain_verified is False
    assert report.exit_code == 2
    assert other.cert_pem.exists()


def test_inspect_path_key_readable_by_others_is_warning(tmp_path):
    files = create_device_cert("sensor-1", tmp_path, self_signed=True)
    os.chmod(files.key_pem, 0o644)
    os.remove(files.key_der)
    report = inspect_path(files.cert_pem)
    assert any("chmod 600" in m for m in _messages(report, "warning"))


def test_inspect_path_encrypted_ca_key_with_passphrase_matches(encrypted_ca):
    folder, _ = encrypted_ca
    report = inspect_path(folder, passphrase="correct horse battery staple")
    assert report.certificates[0].key_matches is True


def test_inspect_path_missing_path_raises_user_error(tmp_path):
    with pytest.raises(UserError, match="nothing.pem: not found"):
        inspect_path(tmp_path / "nothing.pem")


def test_inspect_path_folder_without_certificates_raises_user_error(tmp_path):
    (tmp_path / "readme.pem").write_text("not a cert")
    with pytest.raises(UserError, match="no certificates"):
        inspect_path(tmp_path)


def test_format_report_lists_thumbprints_and_counts(tmp_path):
    files = create_device_cert("sensor-1", tmp_path, self_signed=True)
    text = format_report(inspect_path(files.cert_pem))
    assert files.sha1 in text and files.sha256 in text
    assert "0 error(s), 0 warning(s)" in text
    assert key_to_pem.__name__ not in text


def test_inspect_path_fleet_folder_reports_each_device_once(root_ca, tmp_path):
    from host_tools.certs import mint_fleet

    mint_fleet(root_ca, 3, "f-", tmp_path, progress=False)
    report = inspect_path(tmp_path, ca=root_ca)
    devices = [c for c in report.certificates if c.role == "device"]
    assert sorted(c.subject for c in devices) == ["CN=f-0001", "CN=f-0002", "CN=f-0003"]
    assert all(c.key_matches and c.chain_verified for c in devices)
    assert [c.role for c in report.certificates].count("ca") == 1
    assert report.exit_code == 0


def test_inspect_path_self_signed_with_broken_signature_is_error(tmp_path):
    files = create_device_cert("sensor-1", tmp_path, self_signed=True)
    der = bytearray(files.cert_der.read_bytes())
    der[-5] ^= 0x01  # inside the signature value
    files.cert_der.write_bytes(bytes(der))
    report = inspect_path(files.cert_der)
    assert report.certificates[0].chain_verified is False
    assert report.exit_code == 2


def test_inspect_path_key_option_with_folder_refused(tmp_path):
    files = create_device_cert("sensor-1", tmp_path, self_signed=True)
    with pytest.raises(UserError, match="--key goes with a certificate file"):
        inspect_path(tmp_path, key=files.key_der)
