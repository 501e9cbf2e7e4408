"""`python -m host_tools hub ...`: serve as a process, service commands through DIR."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools.cli import main
from host_tools.hub import mqtt
from host_tools.paths import REPO_ROOT
from tests.hub.device import Device


def serve(data, cwd=None):
    """Start `hub serve` on a free port; returns (process, DIR/hub.json contents).

    `data` may be relative to `cwd` (the repository is put on PYTHONPATH for that case).
    """
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "hub", "serve", "--data", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    line = process.stdout.readline()
    assert line.startswith("hub ready"), process.stderr.read()
    return process, json.loads((Path(cwd or ".") / data / "hub.json").read_text())


def stop(process):
    process.send_signal(signal.SIGINT)
    process.wait(10)


@pytest.fixture
def served(tmp_path):
    process, info = serve(tmp_path / "hub")
    yield tmp_path / "hub", info
    stop(process)


def run(capsys, *argv):
    code = main(["hub", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


class Remote:
    """Enough of a HubHandle for tests.hub.device.Device."""

    def __init__(self, data, info):
        self.port, self.host_name, self.ca_file = info["port"], info["host_name"], data / "ca.pem"


def test_serve_service_commands_act_on_running_hub(served, capsys, credentials):
    data, info = served
    files = credentials["self_signed"]
    code, out, _ = run(
        capsys, "register", "dev-self", "--cert", str(files.cert_pem), "--data", str(data)
    )
    assert code == 0
    assert "selfSigned" in run(capsys, "list", "--data", str(data))[1]
    device = Device(Remote(data, info), "dev-self", files.cert_pem, files.key_pem)
    assert device.connect().return_code == 0
    device.subscribe("devices/dev-self/messages/devicebound/#", "$iothub/methods/POST/#")
    device.publish("devices/dev-self/messages/events/k=v", b"hello", qos=1)
    device.expect(mqtt.PUBACK)

    code, out, _ = run(capsys, "telemetry", "dev-self", "--data", str(data))
    record = json.loads(out.splitlines()[0])
    assert (record["body"], record["properties"]) == ("hello", {"k": "v"})

    assert run(capsys, "c2d", "dev-self", "hi", "--property", "a=b/c", "--data", str(data))[0] == 0
    message = device.expect(mqtt.PUBLISH)
    assert message.payload == b"hi" and "a=b%2Fc" in message.topic

    code, out, _ = run(capsys, "twin", "dev-self", "--desired", '{"x": 1}', "--data", str(data))
    assert json.loads(out)["properties"]["desired"] == {"x": 1, "$version": 2}

    code, out, _ = run(capsys, "invoke", "dev-self", "m", "--timeout", "0.5", "--data", str(data))
    assert code == 1 and json.loads(out)["status"] == 504


def test_register_hub_stopped_edits_stored_registry(tmp_path, capsys):
    data = tmp_path / "hub"
    code, out, _ = run(capsys, "register", "dev-sas", "--sas", "--data", str(data))
    assert code == 0
    assert json.loads(out)["authentication"]["symmetricKey"]["primaryKey"]
    assert "dev-sas\tsas\tenabled" in run(capsys, "list", "--data", str(data))[1]


def test_register_expired_cert_refused_in_one_line(tmp_path, capsys):
    from tests.certs.conftest import write_custom_cert

    cert, _ = write_custom_cert(tmp_path / "old.crt.pem", "dev-old", days_before=30, days_after=-1)
    data = tmp_path / "hub"
    code, _, err = run(capsys, "register", "dev-old", "--cert", str(cert), "--data", str(data))
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {cert} expired on ") and "the hub would refuse it" in err
    assert "dev-old" not in run(capsys, "list", "--data", str(data))[1]


def test_invoke_hub_stopped_one_line_error(tmp_path, capsys):
    code, _, err = run(capsys, "invoke", "dev", "m", "--data", str(tmp_path))
    assert code == 2
    assert err.startswith("error: no hub running for") and err.count("\n") == 1


def test_request_hub_stopped_dps_only_folder_reads_the_stored_state(tmp_path, capsys):
    from host_tools.hub.cli import request

    data = tmp_path / "hub"
    assert main(["dps", "enroll", "dev-1", "--sas", "--data", str(data)]) == 0
    assert sorted(p.name for p in data.iterdir()) == ["dps.json"]  # no registry.json yet
    status, enrollments = request(data, "GET", "/enrollments")
    assert status == 200 and [e["registrationId"] for e in enrollments] == ["dev-1"]
    capsys.readouterr()
    assert run(capsys, "list", "--data", str(data)) == (0, "", "")


def test_request_hub_stopped_get_on_a_folder_without_state_creates_nothing(tmp_path):
    from host_tools.errors import UserError
    from host_tools.hub.cli import request

    data = tmp_path / "mistyped"
    with pytest.raises(UserError, match="no hub running for"):
        request(data, "GET", "/devices")
    assert not data.exists()


def test_serve_port_busy_one_line_error(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "serve", "--data", str(tmp_path), "--port", str(port))
    assert code == 2
    assert f"port {port} on 127.0.0.1 is in use" in err


def test_serve_restart_keeps_registry_and_certificates(tmp_path, capsys):
    data = tmp_path / "hub"
    process, _ = serve(data)
    run(capsys, "register", "dev-sas", "--sas", "--data", str(data))
    ca_before = (data / "ca.pem").read_bytes()
    stop(process)
    assert not (data / "hub.json").exists()
    process, _ = serve(data)
    try:
        assert "dev-sas" in run(capsys, "list", "--data", str(data))[1]
        assert (data / "ca.pem").read_bytes() == ca_before
    finally:
        stop(process)


def test_serve_restart_from_another_directory_keeps_ca(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    process, info = serve("hub", cwd=first)  # a data folder relative to the working directory
    stop(process)
    data = first / "hub"
    fingerprint = hashlib.sha256((data / "ca.pem").read_bytes()).hexdigest()
    ca_key = (data / "ca" / "ca.key.pem").read_bytes()
    process, info = serve("../first/hub", cwd=second)
    try:
        assert hashlib.sha256((data / "ca.pem").read_bytes()).hexdigest() == fingerprint
        assert (data / "ca" / "ca.key.pem").read_bytes() == ca_key
        assert Path(info["ca_file"]).is_absolute()
        assert Path(info["ca_file"]).resolve() == (data / "ca.pem").resolve()
    finally:
        stop(process)


def test_ca_add_rsa1024_ca_one_line_error(tmp_path, capsys):
    from tests.hub.chains import make_cert, new_key, to_pem

    weak = tmp_path / "weak.pem"
    weak.write_text(to_pem(make_cert("Weak CA", new_key("rsa1024"), ca=True)))
    code, _, err = run(capsys, "ca", "add", "weak", str(weak), "--data", str(tmp_path / "hub"))
    assert code == 2 and err.count("\n") == 1
    assert "RSA key of 1024 bits" in err and "upload a CA with an EC P-256" in err


def test_hub_json_left_by_a_killed_hub_blocks_nothing(tmp_path, capsys):
    # kill -9 skips the clean-up; the pid may even be taken by another process since (here: us)
    data = tmp_path / "hub"
    process, info = serve(data)
    process.kill()
    process.wait(10)
    stale = dict(info, pid=os.getpid())
    (data / "hub.json").write_text(json.dumps(stale))
    code, _, err = run(capsys, "register", "dev-1", "--ca", "--data", str(data))
    assert code == 0, err
    code, out, err = run(capsys, "list", "--data", str(data))
    assert code == 0 and "dev-1" in out, err
    process, fresh = serve(data)
    try:
        assert fresh["pid"] == process.pid
    finally:
        stop(process)


def test_ca_add_prove_with_the_ca_folder_verifies_in_one_step(served, tmp_path, capsys):
    from host_tools.certs import create_ca

    data, _ = served
    create_ca(tmp_path / "root", "Fleet root")
    cert = tmp_path / "root" / "ca.crt.pem"
    code, out, err = run(
        capsys,
        "ca",
        "add",
        "fleet",
        str(cert),
        "--prove-with",
        str(tmp_path / "root"),
        "--data",
        str(data),
        "--json",
    )
    assert code == 0, err
    answer = json.loads(out)
    assert answer["isVerified"] is True and answer["verificationCode"]
    code, out, _ = run(capsys, "ca", "list", "--data", str(data))
    assert code == 0 and "fleet\tverified=True" in out
