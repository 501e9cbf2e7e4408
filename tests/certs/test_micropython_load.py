"""The device files load in MicroPython's `tls` (mbedTLS 3.6) on the Unix port."""

import subprocess

import pytest

from host_tools.certs import create_device_cert

pytestmark = pytest.mark.micropython

LOAD_SCRIPT = """
import sys, tls
folder, stem = sys.argv[1], sys.argv[2]
cert = open(folder + '/' + stem + '.crt.der', 'rb').read()
key = open(folder + '/' + stem + '.key.der', 'rb').read()
ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
ctx.load_cert_chain(cert, key)
print('loaded', len(cert), len(key))
"""


def _load(micropython_bin, tmp_path, folder, stem="device"):
    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT)
    return subprocess.run(
        [str(micropython_bin), str(script), str(folder), stem],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("key_type", ["ec256", "ec384", "rsa2048"])
def test_device_files_key_type_load_in_micropython_tls(
    micropython_bin, root_ca, tmp_path, key_type
):
    create_device_cert("mpy-1", tmp_path / "dev", ca_dir=root_ca, key_type=key_type)
    out = _load(micropython_bin, tmp_path, tmp_path / "dev")
    assert out.stdout.startswith("loaded"), out.stderr


def test_device_files_secondary_self_signed_load_in_micropython_tls(micropython_bin, tmp_path):
    create_device_cert("mpy-2", tmp_path / "dev", self_signed=True, secondary=True)
    out = _load(micropython_bin, tmp_path, tmp_path / "dev", "secondary")
    assert out.stdout.startswith("loaded"), out.stderr


def test_device_files_truncated_key_rejected_by_micropython_tls(micropython_bin, tmp_path):
    # proves the load test above can fail: mbedTLS does parse the key we hand it
    files = create_device_cert("mpy-3", tmp_path / "dev", self_signed=True)
    files.key_der.write_bytes(files.key_der.read_bytes()[:40])
    out = _load(micropython_bin, tmp_path, tmp_path / "dev")
    assert not out.stdout.startswith("loaded")
    assert "invalid key" in out.stderr
