"""Exit codes as docs/cli.md lists them, run as a user runs them: `python -m host_tools ...` in a
process of its own, with no board and no hub set up beforehand."""

import datetime
import json
import signal
import subprocess
import sys
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from host_tools.certs import create_ca, create_device_cert


def host_tools(*argv, cwd, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "host_tools", *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def start(*argv, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "host_tools", *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def write_expired_certificate(path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sensor-old")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now - datetime.timedelta(days=35))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_user_error_exits_2_with_one_line_on_stderr(tmp_path):
    result = host_tools("certs", "thumbprint", tmp_path / "missing.pem", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")


def test_usage_error_exits_2_after_the_usage_line(tmp_path):
    result = host_tools("certs", "thumbprint", "--no-such-option", "x.pem", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: ") and "Traceback" not in result.stderr


@pytest.mark.parametrize("days_left, code", [(365, 0), (5, 1), (-35, 2)])
def test_certs_inspect_exit_code_follows_the_worst_finding(tmp_path, days_left, code):
    # clean: 0; a warning (expires within 30 days): 1; an error (expired): 2
    if days_left < 0:
        argv = [write_expired_certificate(tmp_path / "old.crt.pem")]
    else:
        create_ca(tmp_path / "ca")
        files = create_device_cert(
            "sensor-1", tmp_path / "d", ca_dir=tmp_path / "ca", days=days_left
        )
        argv = [files.cert_pem, "--ca", tmp_path / "ca"]
    result = host_tools("certs", "inspect", *argv, cwd=tmp_path)
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr == ""  # findings are the report, on stdout: not a user error
    if days_left < 0:
        assert "expired on" in result.stdout


def test_fleet_flash_with_a_failed_board_exits_1(tmp_path):
    create_ca(tmp_path / "ca")
    mint = host_tools(
        "fleet", "mint", "fleet", "--ca", "ca", "--count", 1, "--prefix", "s-", cwd=tmp_path
    )
    bundle = host_tools(
        "certs", "trust-bundle", "trust.pem", "--extra-ca", "ca", "--no-azure-roots", cwd=tmp_path
    )
    assert (mint.returncode, bundle.returncode) == (0, 0)
    result = host_tools(
        "fleet",
        "flash",
        "fleet",
        "--ports",
        tmp_path / "no-such-port",
        "--hub-host",
        "localhost",
        "--trust",
        "trust.pem",
        "--no-wifi",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    (board,) = json.loads(result.stdout)
    assert board["device_id"] == "s-0001" and board["ok"] is False


def test_hub_invoke_offline_device_exits_1_and_hub_serve_stops_with_0(tmp_path):
    hub = start("hub", "serve", "--data", "hub", "--port", 0, cwd=tmp_path)
    try:
        assert hub.stdout.readline().startswith("hub ready"), hub.stderr.read()
        registered = host_tools(
            "hub", "register", "sensor-1", "--sas", "--data", "hub", cwd=tmp_path
        )
        assert registered.returncode == 0
        result = host_tools(
            "hub", "invoke", "sensor-1", "get_status", "--data", "hub", cwd=tmp_path
        )
        assert result.returncode == 1
        assert json.loads(result.stdout)["status"] == 404
    finally:
        hub.send_signal(signal.SIGINT)
        assert hub.wait(10) == 0


def test_ctrl_c_exits_130(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    (flash / "main.py").write_text(
        "import time\nprint('up', flush=True)\nwhile True:\n    time.sleep(1)\n"
    )
    board = start("emulated-board", "run", "--flash", flash, cwd=tmp_path)
    try:
        assert "up" in board.stdout.readline()
        time.sleep(0.2)
        board.send_signal(signal.SIGINT)
        assert board.wait(20) == 130
    finally:
        if board.poll() is None:
            board.kill()
            board.wait()
