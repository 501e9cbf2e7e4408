# board.py: the only user of machine, network and ntptime; files on flash; clock; randomness.
# Missing modules mean "the OS does it": no network -> the OS has one (Unix port), no ntptime ->
# the OS clock is trusted, no machine.WDT -> no watchdog.
import os
import time

from errors import KIND_CLOCK, KIND_CONFIG, KIND_NETWORK, AgentError
from sas import unix_time_from_device

CLOCK_MIN_UNIX = 1704067200  # 2024-01-01: anything earlier means the clock was never set


def file_read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise AgentError(KIND_CONFIG, "cannot read %s on the board: deploy the device folder" % path)


def file_exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def epoch_year():
    return time.gmtime(0)[0]


def unix_time():
    return unix_time_from_device(time.time(), epoch_year())


def random_unit():
    # A value in [0, 1) for backoff jitter.
    try:
        b = os.urandom(2)
        return ((b[0] << 8) | b[1]) / 65536
    except Exception:
        import random

        return random.random()


def random_hex(nbytes):
    import binascii

    try:
        data = os.urandom(nbytes)
    except Exception:
        import random

        data = bytes(random.getrandbits(8) for _ in range(nbytes))
    return binascii.hexlify(data).decode()


class Board:
    def __init__(self, watchdog_s=0, led_pin=None, led_active_low=False):
        self.wdt = None
        self.led = None
        self.led_active_low = led_active_low
        self.watchdog_s = watchdog_s
        self.wlan = None
        if led_pin is not None:
            try:
                from machine import Pin

                self.led = Pin(led_pin, Pin.OUT)
                self.set_led(False)
            except Exception:
                self.led = None

    def start_watchdog(self):
        # Started by the loop (not at import) so a REPL session is never reset by it.
        if self.wdt is not None or not self.watchdog_s:
            return
        try:
            from machine import WDT

            self.wdt = WDT(timeout=int(self.watchdog_s * 1000))
        except (ImportError, AttributeError, ValueError, OSError):
            self.wdt = None

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()

    def set_led(self, on):
        if self.led is not None:
            self.led.value(1 if on != self.led_active_low else 0)

    def wifi_connect(self, ssid, password, timeout_ms):
        try:
            import network
        except ImportError:
            return False  # the OS already has a network
        wlan = self.wlan
        if wlan is None:
            wlan = network.WLAN(network.STA_IF)
            self.wlan = wlan
        wlan.active(True)
        if wlan.isconnected():
            return True
        if not ssid:
            raise AgentError(KIND_CONFIG, "config.json: wifi_ssid is empty and the board has no network")
        wlan.connect(ssid, password)
        start = time.ticks_ms()
        while not wlan.isconnected():
            if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
                try:
                    wlan.disconnect()
                except Exception:
                    pass
                raise AgentError(KIND_NETWORK, "Wi-Fi %r did not connect within %d s: check wifi_ssid, wifi_password and signal" % (ssid, timeout_ms // 1000))
            self.feed()
            time.sleep_ms(100)
        return True

    def wifi_connected(self):
        if self.wlan is None:
            return True
        return self.wlan.isconnected()

    def clock_sync(self, ntp_host=None):
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
                if unix_time() < CLOCK_MIN_UNIX:
                    raise AgentError(KIND_CLOCK, "clock not set: NTP failed (is UDP port 123 open?) and TLS needs the date")
        if unix_time() < CLOCK_MIN_UNIX:
            raise AgentError(KIND_CLOCK, "clock not set: the board thinks it is before 2024; TLS needs the date (NTP)")
