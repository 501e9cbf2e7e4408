# selfcheck.py: what the board can check by itself when it keeps failing to connect, printed once
# after the third failed connect in a row (the host's `doctor` checks the rest: registration,
# key against certificate, the chain). Pure reads of the clock, the flash and the network; loaded
# for that one call (cold_call) and unloaded again.
import gc
import os
import time

from micropython import const

_YEAR_SET = const(2024)  # a clock before this was never set (ESP32s boot at 2000-01-01)
_MARKER = b"-----BEGIN CERTIFICATE-----"


def selfcheck_print(config):
    print("agent: 3 connects failed in a row; what the board can check itself:")
    _line(_clock())
    for key in ("cert_file", "key_file", "trust_file"):
        if config.get(key):
            _line(_file(key, config[key]))
    if config.get("trust_file"):
        _line(_trust(config["trust_file"]))
    _line(_heap())
    if config["hub_host"] is None:  # not provisioned yet: DPS is what it must reach
        _line(_resolve(config["dps"]["endpoint"], config["dps"]["port"]))
    else:
        _line(_resolve(config["hub_host"], config["hub_port"]))
    print("agent: the host checks the rest: python -m host_tools doctor --port PORT")


def _line(result):
    print("agent: check %s %s" % result)


def _clock():
    year = time.localtime()[0]
    if year < _YEAR_SET:
        return "fail", "clock: year %d, never set: NTP failed (check the network, ntp_host)" % year
    return "pass", "clock: year %d" % year


def _file(key, name):
    try:
        size = os.stat(name)[6]
    except OSError:
        return "fail", "%s %s is missing: deploy the device folder again" % (key, name)
    if not size:
        return "fail", "%s %s is empty: deploy the device folder again" % (key, name)
    return "pass", "%s %s (%d bytes)" % (key, name, size)


def _trust(name):
    # Counted in small reads: the bundle is kilobytes, the heap may be what failed.
    count = 0
    tail = b""
    try:
        with open(name, "rb") as f:
            while True:
                chunk = f.read(256)
                if not chunk:
                    break
                data = tail + chunk
                count += data.count(_MARKER)
                tail = data[-(len(_MARKER) - 1) :]
    except OSError:
        return "fail", "trust_file %s cannot be read" % name
    if not count:
        return "fail", "trust_file %s holds no PEM certificate: make it with trust-bundle" % name
    return "pass", "trust_file: %d root certificate(s)" % count


def _heap():
    gc.collect()
    free = gc.mem_free() if hasattr(gc, "mem_free") else None
    if free is None:
        return "pass", "heap: not measurable here"
    if free < 40000:
        return "warn", "heap: %d bytes free, a TLS handshake needs about 40 KB: free RAM" % free
    return "pass", "heap: %d bytes free" % free


def _resolve(host, port):
    import socket

    try:
        address = socket.getaddrinfo(host, port)[0][-1]
    except OSError as exc:
        return "fail", "DNS: %s does not resolve (%s): check hub_host and the network" % (host, exc)
    return "pass", "DNS: %s -> %s" % (host, address)
