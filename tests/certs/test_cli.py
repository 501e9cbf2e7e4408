"""The CLI: each command's output, `--json`, and each user error as one line with exit 2."""

import json
import os
import subprocess
import sys

import pytest

from host_tools.certs import create_ca, create_device_cert
from host_tools.paths import REPO_ROOT
from tests.certs.conftest import run_openssl, write_weak_ca


def _one_error_line(err: str, *fragments):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_certs_ca_root_then_intermediate_json(run_cli, tmp_path):
    code, out, _ = run_cli("certs", "ca", tmp_path / "root", "--json")
    assert code == 0
    assert json.loads(out)["cert_pem"].endswith("ca.crt.pem")
    code, out, _ = run_cli("certs", "ca", tmp_path / "int", "--parent", tmp_path / "root")
    assert code == 0 and "intermediate CA written" in out


def test_certs_ca_passphrase_file_encrypts_key(run_cli, tmp_path):
    (tmp_path / "pass").write_text("s3cret\n")
    code, _, _ = run_cli("certs", "ca", tmp_path / "ca", "--passphrase-file", tmp_path / "pass")
    assert code == 0
    assert b"ENCRYPTED" in (tmp_path / "ca" / "ca.key.pem").read_bytes()


def test_certs_device_ca_signed_prints_thumbprints_not_key(run_cli, root_ca, tmp_path):
    code, out, err = run_cli("certs", "device", "sensor-1", tmp_path, "--ca", root_ca)
    assert code == 0, err
    key_pem = (tmp_path / "device.key.pem").read_text()
    body = key_pem.splitlines()[1]
    assert body not in out and "PRIVATE KEY" not in out
    sha256 = run_openssl("x509", "-in", tmp_path / "device.crt.pem", "-noout", "-fingerprint",
                         "-sha256").stdout.split("=")[1].strip().replace(":", "")  # fmt: skip
    assert sha256 in out


def test_certs_device_self_signed_secondary_json(run_cli, tmp_path):
    code, out, _ = run_cli(
        "certs", "device", "sensor-2", tmp_path, "--self-signed", "--secondary", "--json"
    )
    data = json.loads(out)
    assert code == 0
    assert data["cert_der"].endswith("secondary.crt.der") and data["chain_pem"] is None


def test_certs_server_hosts_written(run_cli, root_ca, tmp_path):
    code, out, _ = run_cli(
        "certs", "server", tmp_path, "--ca", root_ca, "--host", "localhost", "--host", "127.0.0.1"
    )
    assert code == 0 and (tmp_path / "server.chain.pem").exists()


def test_certs_thumbprint_json_equals_openssl(run_cli, tmp_path):
    files = create_device_cert("d", tmp_path, self_signed=True)
    code, out, _ = run_cli("certs", "thumbprint", files.cert_der, "--json")
    data = json.loads(out)
    expected = run_openssl("x509", "-in", files.cert_pem, "-noout", "-fingerprint", "-sha1")
    assert code == 0
    assert data["sha1"] == expected.stdout.split("=")[1].strip().replace(":", "")


def test_certs_verification_cert_writes_code_cn(run_cli, root_ca, tmp_path):
    code, out, _ = run_cli(
        "certs", "verification-cert", "--ca", root_ca, "--code", "ABC123", tmp_path / "v.pem"
    )
    subject = run_openssl("x509", "-in", tmp_path / "v.pem", "-noout", "-subject").stdout
    assert code == 0 and "CN = ABC123" in subject


def test_certs_inspect_exit_codes_clean_and_warning(run_cli, root_ca, tmp_path):
    create_device_cert("d", tmp_path / "ok", ca_dir=root_ca)
    code, out, _ = run_cli("certs", "inspect", tmp_path / "ok", "--ca", root_ca)
    assert code == 0 and "verifies to CN=Test Root CA" in out
    create_device_cert("d", tmp_path / "soon", ca_dir=root_ca, days=5)
    code, out, _ = run_cli("certs", "inspect", tmp_path / "soon", "--json")
    assert code == 1 and json.loads(out)["exit_code"] == 1


def test_certs_trust_bundle_extra_ca(run_cli, root_ca, tmp_path):
    code, out, _ = run_cli("certs", "trust-bundle", tmp_path / "t.pem", "--extra-ca", root_ca)
    assert code == 0 and "3 root certificate(s)" in out


def test_fleet_mint_json_counts(run_cli, root_ca, tmp_path):
    code, out, _ = run_cli(
        "fleet", "mint", tmp_path, "--ca", root_ca, "--count", 4, "--prefix", "f-", "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["count"] == 4 and data["created"] == 4


# --- user errors: one line, names the file and the fix, exit 2 ---------------------------


def test_certs_thumbprint_missing_file_one_line_exit_2(run_cli, tmp_path):
    code, out, err = run_cli("certs", "thumbprint", tmp_path / "gone.der")
    assert code == 2 and out == ""
    _one_error_line(err, "gone.der", "not found")


def test_certs_device_wrong_passphrase_one_line_exit_2(run_cli, encrypted_ca, tmp_path):
    folder, _ = encrypted_ca
    (tmp_path / "bad").write_text("wrong\n")
    code, _, err = run_cli(
        "certs", "device", "d", tmp_path / "d", "--ca", folder,
        "--passphrase-file", tmp_path / "bad",
    )  # fmt: skip
    assert code == 2
    _one_error_line(err, "ca.key.pem", "wrong passphrase", "--passphrase-file")


def test_certs_device_encrypted_ca_right_passphrase_works(run_cli, encrypted_ca, tmp_path):
    folder, passphrase_file = encrypted_ca
    code, _, err = run_cli(
        "certs", "device", "d", tmp_path, "--ca", folder, "--passphrase-file", passphrase_file
    )
    assert code == 0, err


def test_certs_device_ca_key_mismatch_one_line_exit_2(run_cli, tmp_path):
    create_ca(tmp_path / "a")
    create_ca(tmp_path / "b")
    (tmp_path / "a" / "ca.key.pem").write_bytes((tmp_path / "b" / "ca.key.pem").read_bytes())
    code, _, err = run_cli("certs", "device", "d", tmp_path / "d", "--ca", tmp_path / "a")
    assert code == 2
    _one_error_line(err, "ca.key.pem", "does not match")


def test_certs_device_not_a_ca_one_line_exit_2(run_cli, tmp_path):
    files = create_device_cert("x", tmp_path / "fake", self_signed=True)
    os.rename(files.cert_pem, tmp_path / "fake" / "ca.crt.pem")
    os.rename(files.key_pem, tmp_path / "fake" / "ca.key.pem")
    code, _, err = run_cli("certs", "device", "d", tmp_path / "d", "--ca", tmp_path / "fake")
    assert code == 2
    _one_error_line(err, "ca.crt.pem", "not a CA certificate", "certs ca")


def test_certs_device_invalid_id_one_line_exit_2(run_cli, root_ca, tmp_path):
    code, _, err = run_cli("certs", "device", "no spaces", tmp_path, "--ca", root_ca)
    assert code == 2
    _one_error_line(err, "'no spaces'", "allowed are")


def test_certs_device_existing_output_one_line_exit_2(run_cli, root_ca, tmp_path):
    create_device_cert("d", tmp_path, ca_dir=root_ca)
    code, _, err = run_cli("certs", "device", "d", tmp_path, "--ca", root_ca)
    assert code == 2
    _one_error_line(err, "device.crt.der", "--force")
    code, _, _ = run_cli("certs", "device", "d", tmp_path, "--ca", root_ca, "--force")
    assert code == 0


def test_certs_device_rsa1024_refused_one_line_exit_2(run_cli, tmp_path):
    code, _, err = run_cli(
        "certs", "device", "d", tmp_path, "--self-signed", "--key-type", "rsa1024"
    )
    assert code == 2
    _one_error_line(err, "rsa1024", "too weak")


def test_certs_device_days_beyond_ca_one_line_exit_2(run_cli, root_ca, tmp_path):
    code, _, err = run_cli("certs", "device", "d", tmp_path, "--ca", root_ca, "--days", "9999")
    assert code == 2
    _one_error_line(err, "ca.crt.pem", "or less")


def test_certs_inspect_errors_exit_2(run_cli, root_ca, tmp_path):
    create_device_cert("d", tmp_path / "dev", ca_dir=root_ca)
    other = create_device_cert("e", tmp_path / "other", ca_dir=root_ca)
    code, out, _ = run_cli(
        "certs", "inspect", tmp_path / "dev" / "device.crt.pem", "--key", other.key_der
    )
    assert code == 2 and "DOES NOT MATCH" in out


# --- the real entry point, in a subprocess: no traceback -----------------------------------


def _python_m(*argv):
    return subprocess.run(
        [sys.executable, "-m", "host_tools", *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("certs", "thumbprint", "/nonexistent/device.crt.der"),
        ("certs", "device", "bad id", "/tmp/never-written", "--self-signed"),
    ],
)
def test_python_m_host_tools_user_error_no_traceback(argv):
    out = _python_m(*argv)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    _one_error_line(out.stderr)


def test_python_m_host_tools_certs_device_succeeds(tmp_path):
    out = _python_m("certs", "device", "sub-1", tmp_path, "--self-signed", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["device_id"] == "sub-1"


def test_certs_device_rsa1024_ca_one_line_error(run_cli, tmp_path):
    ca = write_weak_ca(tmp_path / "ca", "rsa1024")
    code, _, err = run_cli("certs", "device", "dev-1", tmp_path / "dev", "--ca", ca)
    assert code == 2
    _one_error_line(err, "ca.crt.pem", "RSA key of 1024 bits", "create a new CA")


def test_certs_trust_bundle_existing_file_needs_force(run_cli, root_ca, tmp_path):
    # the bundle may hold a CA the new one lacks (the emulator's): never replaced silently
    bundle = tmp_path / "t.pem"
    assert run_cli("certs", "trust-bundle", bundle, "--extra-ca", root_ca)[0] == 0
    with_emulator_ca = bundle.read_bytes()
    code, _, err = run_cli("certs", "trust-bundle", bundle)
    assert code == 2
    _one_error_line(err, "exists", "--force")
    assert bundle.read_bytes() == with_emulator_ca
    code, out, err = run_cli("certs", "trust-bundle", bundle, "--force")
    assert code == 0, err
    assert bundle.read_bytes() != with_emulator_ca


def test_certs_device_prints_the_emulator_registration_too(run_cli, root_ca, tmp_path):
    code, out, _ = run_cli("certs", "device", "sensor-2", tmp_path / "a", "--self-signed")
    assert code == 0
    sha256 = out.split("SHA-256")[1].split()[0]
    assert f"hub register sensor-2 --thumbprint {sha256} --data HUB_DATA" in out
    code, out, _ = run_cli("certs", "device", "sensor-3", tmp_path / "b", "--ca", root_ca)
    assert code == 0
    assert "--am x509_ca" in out and "hub register sensor-3 --ca --data HUB_DATA" in out


def test_certs_inspect_device_folder_with_its_trust_bundle_has_no_false_errors(
    run_cli, root_ca, tmp_path
):
    # the folder as the docs build it: identity + trust.pem (the hub's roots, no device CA)
    folder = tmp_path / "devices" / "s1"
    create_device_cert("s1", folder / "certs", ca_dir=root_ca)
    assert run_cli("certs", "trust-bundle", folder / "certs" / "trust.pem")[0] == 0
    code, out, err = run_cli("certs", "inspect", folder, "--ca", root_ca)
    assert code == 0, out + err
    assert "trust.pem" not in out
