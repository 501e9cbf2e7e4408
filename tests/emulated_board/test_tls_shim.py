"""The tls shim against the real thing: one probe script, run on the emulated board and on the
Unix port (mbedTLS), must print the same lines."""

import pytest

from host_tools.emulated_board import run_emulated_board
from host_tools.unix_port import run_unix_port

from .conftest import tls_server

PROBE = """
import socket, time, tls

def context(trust, with_cert):
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if with_cert:
        ctx.load_cert_chain(open("dev.der", "rb").read(), open("dev.key", "rb").read())
    ctx.load_verify_locations(open(trust, "rb").read())
    return ctx

def probe(name, port, trust="ca.pem", host="localhost", with_cert=True):
    raw = socket.socket()
    raw.settimeout(5)
    raw.connect(socket.getaddrinfo("localhost", port)[0][-1])
    try:
        s = context(trust, with_cert).wrap_socket(raw, server_hostname=host)
        first = s.read(5)
        s.setblocking(False)
        idle = s.read(5)
        s.write(b"more!!", 4)
        got = None
        for _ in range(500):
            got = s.read(5)
            if got is not None:
                break
            time.sleep_ms(10)
        end = None
        for _ in range(500):
            end = s.read(5)
            if end is not None:
                break
            time.sleep_ms(10)
        print(name, "ok", first, idle, got, end)
        s.close()
    except Exception as exc:
        print(name, type(exc).__name__, exc.args)

probe("good", PORT)
probe("untrusted", PORT, trust="dev.pem")
probe("wrong-host", PORT, host="other.example")
probe("refused-cert", STRICT_PORT)
print("done")
"""

RUNNERS = {
    "cpython-emulated": lambda flash: run_emulated_board(flash),
    "micropython-unix": lambda flash: run_unix_port(flash),
}


def _flash(tmp_path, material, port, strict_port):
    flash = tmp_path / "flash"
    flash.mkdir()
    device = material["device"]
    (flash / "dev.der").write_bytes(device.cert_der.read_bytes())
    (flash / "dev.key").write_bytes(device.key_der.read_bytes())
    (flash / "dev.pem").write_bytes(device.cert_pem.read_bytes())
    (flash / "ca.pem").write_bytes(material["ca_pem"])
    script = PROBE.replace("STRICT_PORT", str(strict_port)).replace("PORT", str(port))
    (flash / "main.py").write_text(script)
    return flash


def _probe_output(runtime, tmp_path, tls_material):
    with tls_server(tls_material) as port, tls_server(tls_material, True) as strict_port:
        flash = _flash(tmp_path, tls_material, port, strict_port)
        with RUNNERS[runtime](flash) as board:
            board.wait_for_line("^done$", timeout=30)
            return [line for line in board.lines if line.split(" ")[0] in EXPECTED]


EXPECTED = {
    "good": "good ok b'hello' None b'world' b''",
    "untrusted": (
        "untrusted ValueError ('\\nThe certificate is not correctly signed by the trusted CA\\n',)"
    ),
    "wrong-host": (
        "wrong-host ValueError ('\\nThe certificate Common Name (CN) does not match with the"
        " expected CN\\n',)"
    ),
    "refused-cert": "refused-cert OSError (-30592,)",
}


@pytest.mark.parametrize(
    "runtime",
    ["cpython-emulated", pytest.param("micropython-unix", marks=pytest.mark.micropython)],
)
def test_tls_probe_each_case_prints_mbedtls_results(runtime, tmp_path, tls_material, request):
    if runtime == "micropython-unix":
        request.getfixturevalue("micropython_bin")
    lines = _probe_output(runtime, tmp_path, tls_material)
    assert lines == list(EXPECTED.values())
