# Virtual board: the `machine` pieces the firmware uses. A reset ends the process with a code
# the host reads; the host starts a fresh VM (power-on state), as a real reset would.
import sys
import time

import ffi

_exit = ffi.open("libc.so.6").func("v", "_exit", "i")

EXIT_SOFT_RAW = 40  # soft reset from the raw REPL: come back in the raw REPL, skip main.py
EXIT_SOFT = 41  # soft reset from the friendly REPL: run boot.py and main.py again
EXIT_HARD = 42  # machine.reset()
EXIT_EOF = 43  # the host closed our stdin: it is shutting down
EXIT_WDT = 44  # the watchdog expired
EXIT_DEEPSLEEP = 45

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_CAUSES = {"power": PWRON_RESET, "hard": HARD_RESET, "wdt": WDT_RESET, "soft": SOFT_RESET}
_CAUSES["raw"] = SOFT_RESET
_CAUSES["deepsleep"] = DEEPSLEEP_RESET

_cause = PWRON_RESET
_uid = b"\x00" * 6
_freq = 160000000


def reset():
    sys.stdout.buffer.write(b"\r\n")
    _exit(EXIT_HARD)


def soft_reset():
    sys.stdout.buffer.write(b"MPY: soft reboot\r\n")
    _exit(EXIT_SOFT)


def deepsleep(ms=0):
    _exit(EXIT_DEEPSLEEP)


def lightsleep(ms=0):
    time.sleep_ms(ms)


def idle():
    time.sleep_ms(1)


def reset_cause():
    return _cause


def unique_id():
    return _uid


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = hz


def bootloader(*args):
    reset()


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2
    levels = {}  # pin id -> level; the LED's blinking is visible here from a test's exec

    def __init__(self, id, mode=-1, pull=-1, value=None, **kwargs):
        self.id = id
        self.mode = mode
        if value is not None:
            Pin.levels[id] = 1 if value else 0
        else:
            Pin.levels.setdefault(id, 0)

    def init(self, mode=-1, pull=-1, value=None, **kwargs):
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return Pin.levels.get(self.id, 0)
        Pin.levels[self.id] = 1 if v else 0

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, *args, **kwargs):
        return None


class Signal:
    def __init__(self, pin, invert=False, **kwargs):
        self._pin = pin if isinstance(pin, Pin) else Pin(pin, **kwargs)
        self._invert = invert

    def value(self, v=None):
        if v is None:
            return self._pin.value() ^ self._invert
        self._pin.value((1 if v else 0) ^ self._invert)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class WDT:
    # a real watchdog: a thread resets the board when feed() stops coming
    _last = None

    def __init__(self, id=0, timeout=5000):
        import _thread

        self.timeout = max(int(timeout), 1)
        WDT._last = time.ticks_ms()
        _thread.start_new_thread(self._watch, ())

    def feed(self):
        WDT._last = time.ticks_ms()

    def _watch(self):
        while True:
            time.sleep_ms(100)
            if time.ticks_diff(time.ticks_ms(), WDT._last) > self.timeout:
                sys.stdout.buffer.write(b"\r\nvirtual board: watchdog reset\r\n")
                _exit(EXIT_WDT)


class RTC:
    def datetime(self, dt=None):
        if dt is not None:
            return None  # the host's clock is already right
        t = time.localtime()
        return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)

    def init(self, dt=None):
        pass


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kwargs):
        pass

    def init(self, **kwargs):
        pass

    def deinit(self):
        pass


def install(flash, boot):
    import hashlib

    global _cause, _uid
    _cause = _CAUSES.get(boot, PWRON_RESET)
    _uid = hashlib.sha256(flash.encode()).digest()[:6]
    sys.modules["machine"] = sys.modules["vb_machine"]
    sys.modules["umachine"] = sys.modules["vb_machine"]
