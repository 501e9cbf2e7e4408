# link.py: what a connection needs before the first byte: Wi-Fi, the clock, the TLS context from
# the credential files, the SAS token; and randomness for the backoff. Loaded only while
# (re)connecting. No network module means the OS already has a network (Unix port); no ntptime:
# the OS clock is trusted.
import os
import time

from errors import AgentError
from micropython import const

_CLOCK_MIN_UNIX = const(1704067200)  # 2024-01-01: anything earlier means the clock was never set


def link_prepare(config, board, context, dps=False):
    # -> (TLS context, SAS token or None for X.509, when to renew the token (ticks; 0 for X.509)).
    # The context is built once and then passed back in (DPS and the hub share it: one trust
    # bundle, one device identity). dps: the token is for DPS's registration.
    c = config
    wifi_connect(board, c["wifi_ssid"], c["wifi_password"], int(c["wifi_timeout_s"] * 1000))
    clock_sync(c["ntp_host"])
    x509 = c["auth"] == "x509"
    if context is None:
        import gc

        import tls

        gc.collect()
        trust = file_read(c["trust_file"])
        cert = file_read(c["cert_file"]) if x509 else None
        key = file_read(c["key_file"]) if x509 else None
        context = tls_load_context(tls, cert, key, trust)
    if x509:
        return context, None, 0
    from sas import sas_renew_after_ms, sas_resource_uri, sas_token

    ttl = int(c["sas_ttl_s"])
    renew_at = time.ticks_add(time.ticks_ms(), sas_renew_after_ms(ttl))
    expiry = unix_time() + ttl
    if dps:
        d = c["dps"]
        resource = d["id_scope"] + "/registrations/" + d["registration_id"]
        return context, sas_token(resource, c["sas_key"], expiry, "registration"), renew_at
    token = sas_token(sas_resource_uri(c["hub_host"], c["device_id"]), c["sas_key"], expiry)
    return context, token, renew_at


def tls_load_context(tls, cert, key, trust):
    # cert/key: PEM or DER bytes (None for SAS); trust: PEM bundle. Always CERT_REQUIRED.
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if cert is not None and key is not None:
        try:
            ctx.load_cert_chain(cert, key)
        except MemoryError:
            raise
        except Exception as exc:
            from errors import error_explain

            err = error_explain(exc, "loading of the credentials")
            if err.kind != "config":
                err = AgentError(
                    "config",
                    "cannot load the device certificate and key (%s): check cert_file and "
                    "key_file (PEM or DER, matching pair)" % exc,
                )
            raise err
    try:
        ctx.load_verify_locations(trust)
    except MemoryError:
        raise
    except Exception as exc:
        raise AgentError(
            "config", "cannot load the trust bundle (%s): check trust_file (PEM roots)" % exc
        )
    ctx.verify_mode = tls.CERT_REQUIRED
    return ctx


def file_read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise AgentError("config", "cannot read %s on the board: deploy the device folder" % path)


def unix_time():
    # time.time() counts from 2000 on the ESP32 port and from 1970 on the Unix port.
    t = int(time.time())
    return t + 946684800 if time.gmtime(0)[0] == 2000 else t


def random_unit():
    # A value in [0, 1) for backoff jitter.
    try:
        b = os.urandom(2)
        return ((b[0] << 8) | b[1]) / 65536
    except Exception:
        import random

        return random.random()


def wifi_connect(board, ssid, password, timeout_ms):
    try:
        import network
    except ImportError:
        return False  # the OS already has a network
    wlan = board.wlan
    if wlan is None:
        wlan = network.WLAN(network.STA_IF)
        board.wlan = wlan
    wlan.active(True)
    if wlan.isconnected():
        return True
    if not ssid:
        raise AgentError("config", "config.json: wifi_ssid is empty and the board has no network")
    wlan.connect(ssid, password)
    start = time.ticks_ms()
    while not wlan.isconnected():
        if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
            try:
                wlan.disconnect()
            except Exception:
                pass
            raise AgentError(
                "network",
                "Wi-Fi %r did not connect within %d s: check wifi_ssid, wifi_password and signal"
                % (ssid, timeout_ms // 1000),
            )
        board.feed()
        time.sleep_ms(100)
    return True


def clock_sync(ntp_host=None):
    # NTP before TLS: certificate validity needs the date.
    try:
        import ntptime
    except ImportError:
        ntptime = None
    if ntptime is not None:
        if ntp_host:
            ntptime.host = ntp_host
        try:
            ntptime.settime()
        except Exception:
            if unix_time() < _CLOCK_MIN_UNIX:
                raise AgentError(
                    "clock",
                    "clock not set: NTP failed (is UDP port 123 open?) and TLS needs the date",
                )
    if unix_time() < _CLOCK_MIN_UNIX:
        raise AgentError(
            "clock",
            "clock not set: the board thinks it is before 2024; TLS needs the date (NTP)",
        )
