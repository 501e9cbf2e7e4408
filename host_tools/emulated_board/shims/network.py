# The `network` module of the emulated board: a station interface that joins "the host network"
# after a short delay. EMULATED_BOARD_WIFI (or the file named by EMULATED_BOARD_WIFI_FILE, read
# on every call so a test can drop the link mid-run) chooses the outcome:
#   up (default) | down (never joins, no AP) | wrong-password | fail
import time

import _board

STA_IF = 0
AP_IF = 1

STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_BEACON_TIMEOUT = 200
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
STAT_CONNECT_FAIL = 203

_FAILURES = {
    "down": STAT_NO_AP_FOUND,
    "wrong-password": STAT_WRONG_PASSWORD,
    "fail": STAT_CONNECT_FAIL,
}


def _wifi_mode():
    path = _board.setting("WIFI_FILE")
    if path:
        try:
            with open(path) as f:
                return f.read().strip() or "up"
        except OSError:
            pass
    return _board.setting("WIFI", "up")


def hostname(name=None):
    if name is None:
        return _board.setting("HOSTNAME", "emulated-board")
    return None


class WLAN:
    def __init__(self, interface_id=STA_IF):
        self._interface = interface_id
        self._active = False
        self._connect_started = None
        self._ssid = None

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        if not self._active:
            self._connect_started = None
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._ssid = ssid
        self._connect_started = time.monotonic()

    def disconnect(self):
        self._connect_started = None

    def _delay_s(self):
        return int(_board.setting("WIFI_DELAY_MS", "200")) / 1000

    def status(self, param=None):
        if param == "rssi":
            return -55
        if not self._active or self._connect_started is None:
            return STAT_IDLE
        mode = _wifi_mode()
        if time.monotonic() - self._connect_started < self._delay_s():
            return STAT_CONNECTING
        if mode in _FAILURES:
            return _FAILURES[mode]
        return STAT_GOT_IP

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        if config is not None:
            return None
        if self.isconnected():
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def config(self, *args, **kwargs):
        if kwargs:
            return None
        if args and args[0] == "mac":
            return b"\x02\x00\x00\x00\x00\x01"
        if args and args[0] == "essid":
            return self._ssid or ""
        if args and args[0] == "hostname":
            return hostname()
        raise ValueError("unknown config param")

    def scan(self):
        return []
