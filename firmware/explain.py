# explain.py: the tables that turn TLS, socket and MQTT failures into one line a human can act on.
# Pure. Imported only when something failed and unloaded again (errors.error_explain): the texts
# cost RAM the agent needs for its work.
from errors import AgentError

# One refusal text for both X.509 kinds: the device cannot tell a thumbprint device from a
# CA-signed one.
_CERT_REFUSED = (
    "the hub refused our certificate: is its thumbprint registered (CA-signed: its CA verified, "
    "cert_file the chain), is it still valid, and is key_file its key? (doctor on the host says)"
)

# mbedTLS error codes (negative ints as MicroPython reports them in OSError.args[0]).
MBEDTLS_MESSAGES = {
    -0x7780: ("auth", _CERT_REFUSED),
    -0x7580: ("tls", "the hub sent an unexpected TLS message: is hub_port the MQTT port?"),
    -0x7280: ("network", "the hub closed the connection during the TLS handshake"),
    -0x7000: ("tls", "TLS handshake failed: is this a TLS endpoint (hub_port 8883)?"),
    -0x6800: ("network", "TLS handshake timed out: the network or the hub is slow"),
    -0x2700: ("tls", "the hub's certificate did not verify: check trust_file and the clock"),
    -0x7F00: ("memory", "out of memory during the TLS handshake: free RAM or use a smaller key"),
    -0x0010: ("memory", "out of memory during the TLS handshake: free RAM or use a smaller key"),
    -0x2880: ("memory", "out of memory during the TLS handshake: free RAM or use a smaller key"),
    -0x3F80: ("memory", "out of memory during the TLS handshake: free RAM or use a smaller key"),
    -0x3D00: ("config", "the device key is not a valid key: check key_file (PEM or DER)"),
    -0x3E00: ("config", "the device key is not a valid key: check key_file (PEM or DER)"),
    -0x3C80: ("config", "the device key is encrypted: store it without a password"),
    -0x2180: ("config", "the device certificate is not valid: check cert_file (PEM or DER)"),
    -0x2200: ("config", "the device certificate is not valid: check cert_file (PEM or DER)"),
    -0x2780: ("config", "the certificate or key could not be read: check the files"),
    -0x3B00: ("config", "the device certificate and key do not match: check key_file"),
}

# errno values are the same on the Unix port (Linux) and the ESP32 (lwIP) for these.
ERRNO_MESSAGES = {
    12: ("memory", "out of memory during the TLS handshake: free RAM or use a smaller key"),
    103: ("network", "the connection was aborted: the hub or the network dropped it"),
    104: ("network", "the hub reset the connection: check the device identity and the network"),
    110: ("network", "connection timed out: is the hub reachable from this network?"),
    111: ("network", "connection refused: is hub_host:hub_port right and the hub up?"),
    113: ("network", "no route to the hub: check the network"),
    118: ("network", "no route to the hub: check the network"),
    128: ("network", "not connected: the link dropped"),
}

# getaddrinfo failures: EAI_NONAME, EAI_AGAIN, EAI_FAIL (Unix port), lwIP's EAI_FAIL (ESP32).
RESOLVE_CODES = (-2, -3, -4, -202)

# CONNACK return codes (MQTT 3.1.1).
CONNACK_MESSAGES = {
    1: ("protocol", "the hub refused the MQTT protocol version"),
    2: ("auth", "the hub refused the client id: is device_id right?"),
    3: ("network", "the hub is unavailable: it will be retried"),
    4: ("auth", "the hub refused our user name or password: check hub_host, device_id, sas_key"),
    5: ("auth", _CERT_REFUSED),
}
CONNACK_SAS_NOT_AUTHORIZED = "the hub refused our SAS token: is sas_key right and the clock set?"

# Substrings of MicroPython's ValueError texts from mbedTLS certificate verification.
VERIFY_MESSAGES = (
    ("expired", "clock", "the hub's certificate looks expired: is the clock set (NTP)?"),
    ("future", "clock", "clock not set: the hub's certificate is not valid yet (sync NTP)"),
    (
        "Common Name",
        "tls",
        "the hub's certificate does not match hub_host: check hub_host (SNI/host name)",
    ),
    ("CN", "tls", "the hub's certificate does not match hub_host: check hub_host"),
    (
        "signed",
        "tls",
        "the hub's certificate is not trusted: check trust_file (the trust bundle)",
    ),
    ("trusted", "tls", "the hub's certificate is not trusted: check trust_file"),
)


# An X.509 device sends no password: a refused user name is its host name or device id.
CONNACK_X509_BAD_USER = (
    "the hub refused our user name: hub_host must be the hub's own name, as on its certificate "
    "(not an IP address), and device_id the registered id"
)


def connack_error(return_code, sas=False):
    if return_code == 5 and sas:
        return AgentError("auth", CONNACK_SAS_NOT_AUTHORIZED, 5)
    if return_code == 4 and not sas:
        return AgentError("auth", CONNACK_X509_BAD_USER, 4)
    entry = CONNACK_MESSAGES.get(return_code)
    if entry is None:
        return AgentError("protocol", "the hub refused the connection (CONNACK %d)" % return_code)
    return AgentError(entry[0], entry[1], return_code)


def explain(exc, during="connect"):
    # Turn any exception raised while talking to the hub into an AgentError.
    if isinstance(exc, AgentError):
        return exc
    if isinstance(exc, MemoryError):
        return AgentError("memory", "out of memory during the %s: free RAM" % during)
    if isinstance(exc, OSError):
        code = exc.args[0] if exc.args else None
        if isinstance(code, int):
            # On a TLS socket MicroPython reports errno values negated (a timeout is
            # OSError(-110), a reset OSError(-104)): mbedTLS codes are all below -0x100.
            if -0x100 < code < 0 and -code in ERRNO_MESSAGES:
                code = -code
            entry = MBEDTLS_MESSAGES.get(code) if code < 0 else ERRNO_MESSAGES.get(code)
            if entry is not None:
                return AgentError(entry[0], entry[1], code)
            if code in RESOLVE_CODES and during == "connect":
                return AgentError(
                    "network", "cannot resolve the hub's host name: check hub_host and DNS", code
                )
            if code < -0x100:
                return AgentError("tls", "TLS error -0x%04X during the %s" % (-code, during), code)
            return AgentError("network", "network error %d during the %s" % (code, during), code)
        return AgentError("network", "network error during the %s: %s" % (during, exc))
    if isinstance(exc, ValueError):
        text = str(exc)
        for needle, kind, message in VERIFY_MESSAGES:
            if needle in text:
                return AgentError(kind, message)
        return AgentError(
            "tls",
            "the hub's certificate was refused (%s): check trust_file, hub_host and the clock"
            % text,
        )
    return AgentError("protocol", "%s during the %s: %s" % (type(exc).__name__, during, exc))
