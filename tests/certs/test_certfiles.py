import pytest

from host_tools.certs import create_device_cert, thumbprints
from host_tools.errors import UserError
from tests.certs.conftest import run_openssl


def _openssl_fingerprint(path, digest):
    out = run_openssl("x509", "-in", path, "-noout", "-fingerprint", f"-{digest}")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().split("=", 1)[1].replace(":", "")


@pytest.mark.parametrize("key_type", ["ec256", "rsa2048"])
def test_thumbprints_equal_openssl_fingerprints(tmp_path, key_type):
    files = create_device_cert("d", tmp_path, self_signed=True, key_type=key_type)
    sha1, sha256 = thumbprints(files.cert_pem)
    assert sha1 == _openssl_fingerprint(files.cert_pem, "sha1")
    assert sha256 == _openssl_fingerprint(files.cert_pem, "sha256")
    assert (files.sha1, files.sha256) == (sha1, sha256)


def test_thumbprints_path_pem_and_der_bytes_agree(tmp_path):
    files = create_device_cert("d", tmp_path, self_signed=True)
    by_path = thumbprints(files.cert_der)
    assert thumbprints(files.cert_pem.read_bytes()) == by_path
    assert thumbprints(files.cert_der.read_bytes()) == by_path
    assert len(by_path[0]) == 40 and len(by_path[1]) == 64
    assert by_path[1] == by_path[1].upper() and ":" not in by_path[1]


def test_thumbprints_not_a_certificate_raises_user_error(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello")
    with pytest.raises(UserError, match="notes.txt: not a certificate"):
        thumbprints(bogus)


def test_thumbprints_missing_file_names_it(tmp_path):
    with pytest.raises(UserError, match="missing.pem: certificate not found"):
        thumbprints(tmp_path / "missing.pem")
