# link.py: Wi-Fi, the clock, files and randomness, loaded only while (re)connecting. No network
# module means the OS already has a network (Unix port); no ntptime: the OS clock is trusted.
import os
import time

from errors import AgentError
from micropython import const

_CLOCK_MIN_UNIX = const(1704067200)  # 2024-01-01: anything earlier means the clock was never set


def file_read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise AgentError("config", "cannot read %s on the board: deploy the device folder" % path)


def epoch_year():
    return time.gmtime(0)[0]


def unix_time():
    # time.time() counts from 2000 on the ESP32 port and from 1970 on the Unix port.
    t = int(time.time())
    return t + 946684800 if epoch_year() == 2000 else t


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
