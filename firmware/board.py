# board.py: the only user of machine, network and ntptime; files on flash; clock; randomness.
# Missing modules mean "the OS does it": no network -> the OS has one (Unix port), no ntptime ->
# the OS clock is trusted, no machine.WDT -> no watchdog.
import os
import time

from errors import KIND_CONFIG, AgentError, _unload


def file_read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        raise AgentError(
            KIND_CONFIG, "cannot read %s on the board: deploy the device folder" % path
        )


def file_exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


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
        # Wi-Fi and NTP live in link.py, loaded only while connecting.
        import link

        try:
            return link.wifi_connect(self, ssid, password, timeout_ms)
        finally:
            _unload("link")

    def clock_sync(self, ntp_host=None):
        import link

        try:
            link.clock_sync(ntp_host)
        finally:
            _unload("link")
