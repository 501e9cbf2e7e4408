# `network` of a fake board: a station interface that joins "the host network" (loopback
# included) BOARD_FAKE_WIFI_DELAY_MS (200) after connect(). BOARD_FAKE_WIFI, or the file named by
# BOARD_FAKE_WIFI_FILE (read on every call, so a test can drop the link mid-run), chooses:
#   up (default) | down (never joins, no AP) | wrong-password | fail
import time

import _board

STA_IF = 0
AP_IF = 1

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3

_FAILURES = {
    "down": STAT_NO_AP_FOUND,
    "wrong-password": STAT_WRONG_PASSWORD,
    "fail": STAT_CONNECT_FAIL,
}
_NO_ADDRESS = ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")
_LOOPBACK = ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")


def hostname(name=None):
    if name is None:
        return _board.setting("HOSTNAME", "fake-board")
    return None


class WLAN:
    def __init__(self, interface_id=STA_IF):
        self._interface = interface_id
        self._active = False
        self._connect_started = None
        self._ssid = ""

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        if not self._active:
            self._connect_started = None
        return None

    def connect(self, ssid=None, key=None, **kwargs):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._ssid = ssid or ""
        self._connect_started = time.ticks_ms()

    def disconnect(self):
        self._connect_started = None

    def status(self, param=None):
        if param == "rssi":
            return -55
        if not self._active or self._connect_started is None:
            return STAT_IDLE
        delay_ms = int(_board.setting("WIFI_DELAY_MS", "200"))
        if time.ticks_diff(time.ticks_ms(), self._connect_started) < delay_ms:
            return STAT_CONNECTING
        return _FAILURES.get(_board.setting_file("WIFI", "up"), STAT_GOT_IP)

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        if config is not None:
            return None
        return _LOOPBACK if self.isconnected() else _NO_ADDRESS

    def ipconfig(self, *args, **kwargs):
        if args and args[0] == "addr4":
            return self.ifconfig()[:2]
        return None

    def config(self, *args, **kwargs):
        if kwargs:
            return None
        key = args[0] if args else None
        if key == "mac":
            import machine

            return machine.unique_id()
        if key in ("ssid", "essid"):
            return self._ssid
        if key in ("hostname", "dhcp_hostname"):
            return hostname()
        raise ValueError("unknown config param")

    def scan(self):
        if _board.setting_file("WIFI", "up") == "down":
            return []
        return [(b"fake-ap", b"\x02\x00\x00\x00\x00\x01", 6, -55, AUTH_WPA2_PSK, False)]
