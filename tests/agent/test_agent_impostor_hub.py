"""The firmware's own TLS set-up (tls_load_context + Session) against an impostor hub, on both
runtimes: a server whose certificate chains to another CA, and one whose certificate comes from
the device's trusted CA but names another host. The device must refuse both before it sends a
byte of MQTT (its CONNECT would carry the device id), and say which check failed."""

import contextlib
import socket
import ssl
import threading

from host_tools.certs import create_ca, create_server_cert

from ..listening import stop_listening
from .conftest import MAIN_HEADER


@contextlib.contextmanager
def impostor(chain_pem, key_pem):
    """A TLS server on 127.0.0.1; yields (port, record) with what each handshake led to."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain_pem, key_pem)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    record = {"handshakes": 0, "mqtt_bytes": 0}
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    record["handshakes"] += 1
                    record["mqtt_bytes"] += len(tls.recv(4096))
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], record
    finally:
        stop.set()
        stop_listening(listener, thread)


def _run_against(make_device, port):
    device = make_device("dev-1", hub_port=port)
    board = device.start(MAIN_HEADER + "agent.run()\n")
    return board.wait_for_line(r"^agent: error: ", timeout=30)


def test_hub_signed_by_another_ca_is_refused_before_mqtt(make_device, tmp_path):
    create_ca(tmp_path / "rogue-ca", "Rogue CA")
    server = create_server_cert(tmp_path / "rogue-ca", tmp_path / "rogue", hostnames=("localhost",))
    with impostor(server.chain_pem, server.key_pem) as (port, record):
        line = _run_against(make_device, port)
    assert "not trusted" in line and "trust_file" in line, line
    assert record["mqtt_bytes"] == 0


def test_hub_certificate_for_another_host_is_refused_before_mqtt(make_device, hub, tmp_path):
    # the attacker holds a real certificate of the device's trusted CA, for its own name
    ca_dir = hub.data_dir / "ca"
    server = create_server_cert(ca_dir, tmp_path / "other", hostnames=("other.example",))
    with impostor(server.chain_pem, server.key_pem) as (port, record):
        line = _run_against(make_device, port)
    assert "does not match hub_host" in line, line
    assert record["mqtt_bytes"] == 0
