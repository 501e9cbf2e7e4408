"""Mutual TLS for the emulator: pyOpenSSL over memory BIOs inside an asyncio Protocol.

CPython's `ssl` cannot accept an unknown client certificate in the handshake and judge it later,
but IoT Hub does exactly that (it completes the handshake and refuses at CONNECT with CONNACK 5).
pyOpenSSL's verify callback lets the handshake ask for and accept any client certificate; the
certificate is then judged by auth.py. Nothing else is loosened: TLS 1.2 minimum.
"""

import asyncio
import logging
import shutil
from pathlib import Path

from cryptography import x509
from OpenSSL import SSL

log = logging.getLogger("host_tools.hub")

SERVER_DIR = "server"
CA_DIR = "ca"
CA_FILE = "ca.pem"  # the file devices trust
LEGACY_MANIFEST = "credentials.json"  # older hubs remembered paths here, relative to their cwd
SERVER_FILES = {
    "cert_file": "server.crt.pem",
    "key_file": "server.key.pem",
    "chain_file": "server.chain.pem",  # the server certificate, then its CA
}


def ensure_server_credentials(data_dir, host_names=("localhost",)) -> dict:
    """The hub's CA and server certificate in `data_dir`, made with host_tools.certs on first use.

    Returns {"ca_file", "cert_file", "key_file", "chain_file"} (paths). The server certificate
    covers `localhost`, 127.0.0.1 and `host_names`; one missing a name is remade, same CA.
    `DIR/ca.pem` is the file devices trust. Every file has a fixed place inside `data_dir`, so
    the hub finds its CA whatever the working directory it is started from.
    """
    from host_tools import certs
    from host_tools.certs.issue import CA_CERT_NAME, CA_KEY_NAME
    from host_tools.errors import UserError
    from host_tools.hub.storage import prepare_data_dir, write_public

    data_dir = prepare_data_dir(data_dir)
    ca_dir, server_dir = data_dir / CA_DIR, data_dir / SERVER_DIR
    ca_cert, ca_key = ca_dir / CA_CERT_NAME, ca_dir / CA_KEY_NAME
    names = tuple(dict.fromkeys(("localhost", "127.0.0.1", *host_names)))
    if ca_cert.is_file() != ca_key.is_file():
        present, missing = (ca_cert, ca_key) if ca_cert.is_file() else (ca_key, ca_cert)
        raise UserError(
            f"{missing} is missing but {present} is there: restore it, or delete {ca_dir} to "
            f"make a new CA (every device then needs the new {data_dir / CA_FILE})"
        )
    if not ca_cert.is_file():
        shutil.rmtree(server_dir, ignore_errors=True)  # signed by a CA that no longer exists
        certs.create_ca(ca_dir, common_name="IoT Hub emulator root CA", days=3650, force=True)
    server = {key: server_dir / name for key, name in SERVER_FILES.items()}
    if not all(path.is_file() for path in server.values()) or not _covers(
        server["cert_file"], names
    ):
        shutil.rmtree(server_dir, ignore_errors=True)
        certs.create_server_cert(ca_dir, server_dir, hostnames=names)
    (data_dir / LEGACY_MANIFEST).unlink(missing_ok=True)
    ca_file = data_dir / CA_FILE
    ca_pem = ca_cert.read_bytes()
    if not ca_file.exists() or ca_file.read_bytes() != ca_pem:
        write_public(ca_file, ca_pem)
    return {"ca_file": ca_file, **server}


def _covers(cert_file, names) -> bool:
    import ipaddress

    try:
        cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    dns = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    ips = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    for name in names:
        try:
            ipaddress.ip_address(name)
            if name not in ips:
                return False
        except ValueError:
            if name.lower() not in dns:
                return False
    return True


def _accept_any_client_certificate(connection, cert, errno, depth, ok) -> bool:
    # judged at CONNECT by auth.py, as IoT Hub does: never fail the handshake over it
    return True


def server_context(cert_chain_file, key_file) -> SSL.Context:
    """TLS 1.2 and 1.3 server context that asks for (and accepts any) client certificate."""
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.use_certificate_chain_file(str(cert_chain_file))
    context.use_privatekey_file(str(key_file))
    context.check_privatekey()
    context.set_verify(SSL.VERIFY_PEER, _accept_any_client_certificate)
    context.set_session_id(b"iothub-emulator")
    return context


class TlsServerProtocol(asyncio.Protocol):
    """asyncio Protocol doing the TLS server side with pyOpenSSL memory BIOs.

    After the handshake it calls `app_factory(self)`, which returns an object with
    `data_received(bytes)` and `connection_lost()`. The app writes with `write` and closes with
    `close`.
    """

    def __init__(
        self,
        context: SSL.Context,
        app_factory,
        handshake_timeout: float = 20.0,
        on_handshake_expired=None,
    ):
        """`on_handshake_expired(self)`, if given, is called before a too-slow client is cut."""
        self._context = context
        self._app_factory = app_factory
        self._handshake_timeout = handshake_timeout
        self._on_handshake_expired = on_handshake_expired
        self.accepted_at = None  # loop.time() of the TCP accept: later deadlines count from it
        self._app = None
        self._closed = False
        self.transport = None
        self.peer = None
        self.peer_chain: list = []
        self.tls_version = None

    def connection_made(self, transport):
        self.transport = transport
        self.peer = transport.get_extra_info("peername")
        self._tls = SSL.Connection(self._context, None)
        self._tls.set_accept_state()
        loop = asyncio.get_running_loop()
        self.accepted_at = loop.time()
        # an absolute deadline: bytes trickled in one at a time do not move it
        self._handshake_timer = loop.call_later(self._handshake_timeout, self._handshake_expired)

    def _handshake_expired(self):
        if self._app is None and not self._closed:
            log.info("TLS handshake from %s timed out", self.peer)
            if self._on_handshake_expired is not None:
                self._on_handshake_expired(self)
            self.abort()

    def data_received(self, data: bytes):
        if self._closed:
            return
        self._tls.bio_write(data)
        if self._app is None and not self._handshake():
            return
        chunks = []
        while True:
            try:
                chunks.append(self._tls.recv(65536))
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self.close()
                break
            except SSL.Error as exc:
                log.info("TLS error from %s: %s", self.peer, exc)
                self.abort()
                return
        self._flush()
        if chunks and self._app is not None:
            self._app.data_received(b"".join(chunks))

    def _handshake(self) -> bool:
        try:
            self._tls.do_handshake()
        except SSL.WantReadError:
            self._flush()
            return False
        except SSL.Error as exc:
            log.info("TLS handshake from %s failed: %s", self.peer, exc)
            self._flush()  # the alert, so the client learns why
            self.abort()
            return False
        self._handshake_timer.cancel()
        self._flush()
        leaf = self._tls.get_peer_certificate(as_cryptography=True)
        if leaf is not None:
            rest = self._tls.get_peer_cert_chain(as_cryptography=True) or []
            # the server-side chain may or may not repeat the leaf depending on OpenSSL
            self.peer_chain = [leaf] + [c for c in rest if c != leaf]
        self.tls_version = self._tls.get_protocol_version_name()
        self._app = self._app_factory(self)
        return True

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        view = memoryview(data)
        while view:
            try:
                sent = self._tls.send(view[:16384])
            except SSL.Error:
                self.abort()
                return
            view = view[sent:]
        self._flush()

    def _flush(self):
        while True:
            try:
                out = self._tls.bio_read(65536)
            except SSL.WantReadError:
                return
            if not out:
                return
            self.transport.write(out)

    def close(self):
        """Send close_notify and close once buffered bytes are written."""
        if self._closed:
            return
        try:
            self._tls.shutdown()
        except SSL.Error:
            pass
        self._flush()
        self._closed = True
        self.transport.close()

    def abort(self):
        if self.transport is not None:
            self._closed = True
            self.transport.abort()

    def connection_lost(self, exc):
        self._closed = True
        self._handshake_timer.cancel()
        if self._app is not None:
            self._app.connection_lost()
