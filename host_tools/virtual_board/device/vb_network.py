# Virtual board: `network.WLAN`, "connected" at once to the host's network (loopback included).
STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
AUTH_OPEN = 0
AUTH_WPA2_PSK = 3

_state = {}  # interface -> {"active": bool, "connected": bool, "ssid": str}


def hostname(name=None):
    return "mpy-virtual"


class WLAN:
    def __init__(self, interface=STA_IF):
        self._if = interface
        _state.setdefault(interface, {"active": False, "connected": False, "ssid": ""})

    def _s(self):
        return _state[self._if]

    def active(self, *args):
        if args:
            self._s()["active"] = bool(args[0])
            if not args[0]:
                self._s()["connected"] = False
        return self._s()["active"]

    def connect(self, ssid=None, key=None, **kwargs):
        if not self._s()["active"]:
            raise OSError("Wifi Not Started")
        self._s()["ssid"] = ssid or ""
        self._s()["connected"] = True

    def disconnect(self):
        self._s()["connected"] = False

    def isconnected(self):
        return self._s()["connected"]

    def status(self, *args):
        if args and args[0] == "rssi":
            return -42
        return STAT_GOT_IP if self._s()["connected"] else STAT_IDLE

    def ifconfig(self, *args):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    def ipconfig(self, *args, **kwargs):
        if args and args[0] == "addr4":
            return ("127.0.0.1", "255.0.0.0")
        return None

    def config(self, *args, **kwargs):
        if not args:
            return None
        key = args[0]
        if key == "mac":
            import machine

            return machine.unique_id()
        if key in ("ssid", "essid"):
            return self._s()["ssid"]
        if key in ("hostname", "dhcp_hostname"):
            return "mpy-virtual"
        return None

    def scan(self):
        return [(b"virtual-ap", b"\x02\x00\x00\x00\x00\x01", 6, -42, AUTH_WPA2_PSK, False)]
