# MicroPython's `tls` module on CPython's `ssl` (OpenSSL), with MicroPython's semantics and the
# errors mbedTLS surfaces on the Unix port (measured against MicroPython 1.25 / mbedTLS 3.6):
#   server certificate not trusted / wrong host -> ValueError("\nThe certificate ...\n")
#   a fatal alert from the peer (our certificate refused) -> OSError(-0x7780), at the first read
#   socket errors -> OSError(-errno), e.g. a read timeout -> OSError(-110), and it sticks
#   peer closed -> read() returns b""; use after close() -> OSError(-0x7100)
import os
import shutil
import ssl as _ssl
import tempfile

from streams import StreamMethods

PROTOCOL_TLS_CLIENT = 0
PROTOCOL_TLS_SERVER = 1
PROTOCOL_DTLS_CLIENT = 2
PROTOCOL_DTLS_SERVER = 3
CERT_NONE = 0
CERT_OPTIONAL = 1
CERT_REQUIRED = 2
MBEDTLS_VERSION = "emulated: " + _ssl.OPENSSL_VERSION

_ERR_FATAL_ALERT = -0x7780
_ERR_CONN_EOF = -0x7280
_ERR_BAD_INPUT = -0x7100
_ERR_GENERIC = -0x7200

_VERIFY_MESSAGES = {
    62: "The certificate Common Name (CN) does not match with the expected CN",  # hostname
    10: "The certificate validity has expired",
    9: "The certificate validity starts in the future",
    23: "The certificate has been revoked (is on a CRL)",
}
_NOT_SIGNED = "The certificate is not correctly signed by the trusted CA"


def _mp_error(exc):
    """The exception MicroPython + mbedTLS would raise for a CPython socket/ssl exception."""
    if isinstance(exc, _ssl.SSLCertVerificationError):
        return ValueError(f"\n{_VERIFY_MESSAGES.get(exc.verify_code, _NOT_SIGNED)}\n")
    if isinstance(exc, (_ssl.SSLZeroReturnError, _ssl.SSLEOFError)):
        return OSError(_ERR_CONN_EOF)
    if isinstance(exc, _ssl.SSLError):
        if "ALERT" in (exc.reason or "").upper() or "alert" in str(exc):
            return OSError(_ERR_FATAL_ALERT)
        return OSError(_ERR_GENERIC)
    if isinstance(exc, TimeoutError):
        return OSError(-110)
    if isinstance(exc, OSError) and exc.errno:
        return OSError(-exc.errno)
    return OSError(_ERR_GENERIC)


def _is_pem(data):
    return b"-----BEGIN" in data


class SSLContext:
    def __init__(self, protocol, /):
        if protocol == PROTOCOL_TLS_CLIENT:
            self._ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
            self.verify_mode = CERT_REQUIRED
        elif protocol == PROTOCOL_TLS_SERVER:
            self._ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
            self.verify_mode = CERT_NONE
        else:
            raise ValueError("DTLS is not emulated")
        self._client = protocol == PROTOCOL_TLS_CLIENT

    def load_cert_chain(self, cert, key, /):
        """`cert` and `key` are the file contents (DER or PEM bytes), as on MicroPython."""
        cert, key = bytes(cert), bytes(key)
        try:
            cert_pem = cert if _is_pem(cert) else _ssl.DER_cert_to_PEM_cert(cert).encode()
        except Exception:
            raise ValueError("invalid cert") from None
        key_pem = key if _is_pem(key) else _der_key_to_pem(key)
        # CPython's ssl loads a chain only from files: a private folder, removed at once.
        folder = tempfile.mkdtemp(prefix="emulated-tls-")
        try:
            cert_path = os.path.join(folder, "cert.pem")
            key_path = os.path.join(folder, "key.pem")
            for path, data in ((cert_path, cert_pem), (key_path, key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            try:
                self._ctx.load_cert_chain(cert_path, key_path)
            except _ssl.SSLError as exc:
                text = str(exc).upper()
                if "KEY" in text and "CERT" not in text.split("KEY")[0][-20:]:
                    raise ValueError("invalid key") from None
                raise ValueError("invalid cert") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def load_verify_locations(self, cadata, /):
        """`cadata`: one or more PEM certificates, or one DER certificate, as bytes."""
        cadata = bytes(cadata)
        try:
            if _is_pem(cadata):
                self._ctx.load_verify_locations(cadata=cadata.decode("ascii"))
            else:
                self._ctx.load_verify_locations(cadata=cadata)
        except (_ssl.SSLError, ValueError, UnicodeDecodeError):
            raise ValueError("invalid cert") from None

    def get_ciphers(self):
        return [c["name"] for c in self._ctx.get_ciphers()]

    def set_ciphers(self, ciphers):
        self._ctx.set_ciphers(":".join(ciphers))

    def wrap_socket(
        self, sock, server_side=False, do_handshake_on_connect=True, server_hostname=None
    ):
        ctx = self._ctx
        if self.verify_mode == CERT_NONE:
            ctx.check_hostname = False
            ctx.verify_mode = _ssl.CERT_NONE
        else:
            ctx.verify_mode = _ssl.CERT_REQUIRED if self._client else _ssl.CERT_OPTIONAL
            # mbedTLS checks the host name only when it is given one.
            ctx.check_hostname = bool(self._client and server_hostname)
        try:
            ssl_sock = ctx.wrap_socket(
                sock,
                server_side=server_side,
                do_handshake_on_connect=do_handshake_on_connect,
                server_hostname=server_hostname if self._client else None,
                suppress_ragged_eofs=True,
            )
        except Exception as exc:
            raise _mp_error(exc) from None
        return SSLSocket(ssl_sock)


def _der_key_to_pem(key):
    from cryptography.hazmat.primitives import serialization

    try:
        private_key = serialization.load_der_private_key(key, password=None)
    except Exception:
        raise ValueError("invalid key") from None
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class SSLSocket(StreamMethods):
    """A TLS stream with MicroPython's stream semantics (streams.py; setblocking, close)."""

    def __init__(self, ssl_sock):
        self._s = ssl_sock
        # the raw socket's timeout survives setblocking(True), as on the Unix port (SO_RCVTIMEO)
        self._timeout = ssl_sock.gettimeout()
        self._blocking = self._timeout != 0.0
        self._sticky = None  # like mbedTLS, a socket error (a timeout too) breaks the session
        self._closed = False

    def _check(self):
        if self._closed:
            raise OSError(_ERR_BAD_INPUT, "SSL - Bad input parameters to function")
        if self._sticky is not None:
            raise OSError(self._sticky)

    def _fail(self, exc):
        err = _mp_error(exc)
        if isinstance(err, OSError) and err.args and err.args[0] not in (_ERR_CONN_EOF,):
            self._sticky = err.args[0]
        return err

    def _recv_some(self, n):
        try:
            return self._s.recv(n)
        except (_ssl.SSLWantReadError, _ssl.SSLWantWriteError, BlockingIOError):
            return None
        except (_ssl.SSLZeroReturnError, _ssl.SSLEOFError):
            return b""
        except Exception as exc:
            raise self._fail(exc) from None

    def recv(self, n):
        self._check()
        return self._recv_some(n)

    def recv_into(self, buf, nbytes=0):
        return self.readinto(buf, nbytes or None)

    def _send_view(self, view):
        try:
            if self._blocking:
                self._s.sendall(view)
                return len(view)
            return self._s.send(view)
        except (_ssl.SSLWantWriteError, _ssl.SSLWantReadError, BlockingIOError):
            return None
        except Exception as exc:
            raise self._fail(exc) from None

    send = StreamMethods.write

    def sendall(self, buf):
        self._check()
        self.write(buf)

    def setblocking(self, flag):
        self._check()
        self._blocking = bool(flag)
        self._s.settimeout((self._timeout or None) if self._blocking else 0.0)

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self._s.close()
        except Exception:
            pass

    __del__ = close

    def getpeercert(self, binary_form=False):
        return self._s.getpeercert(True)

    def cipher(self):
        return self._s.cipher()

    # for select.poll (the emulated board's poll also asks _pending() for decrypted bytes)
    def fileno(self):
        return self._s.fileno()

    def _pending(self):
        try:
            return self._s.pending()
        except Exception:
            return 0


# Unix port 1.25 has no ssl/ussl module and no module-level wrap_socket: neither has this one.
