"""A small TLS server for probing the tls shim against the Unix port's mbedTLS."""

import contextlib
import socket
import ssl
import threading

import pytest

from host_tools.certs import create_ca, create_device_cert, create_server_cert

from ..listening import stop_listening


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls")
    create_ca(root / "ca", "probe-ca")
    server = create_server_cert(root / "ca", root / "server", hostnames=("localhost",))
    device = create_device_cert("probe-dev", root / "device", self_signed=True)
    return {
        "ca_pem": (root / "ca" / "ca.crt.pem").read_bytes(),
        "server_chain": server.chain_pem,
        "server_key": server.key_pem,
        "device": device,
    }


@contextlib.contextmanager
def tls_server(material, require_client_cert=False):
    """Per connection: send b"hello", wait for b"more", send b"world", then close cleanly."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(material["server_chain"], material["server_key"])
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=material["ca_pem"].decode())  # not the device's issuer
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve_one(conn):
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls_conn:
                tls_conn.settimeout(10)
                tls_conn.sendall(b"hello")
                if tls_conn.recv(4) == b"more":
                    tls_conn.sendall(b"world")
                tls_conn.unwrap()
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        stop_listening(listener, thread)
