# The `machine` module of the emulated board: pins that record their state, a real watchdog,
# reset() as a distinctive exit code, and the ESP32's identity calls.
import hashlib
import os
import threading
import time

import _board

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

# Every Pin.value() change, in order: (pin id, value). Tests and the LED log read this.
PIN_LOG = []


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    _states = {}

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        Pin._states.setdefault(id, 1 if pull == Pin.PULL_UP else 0)
        if value is not None:
            self.value(value)

    def init(self, mode=-1, pull=-1, value=None):
        self.__init__(self.id, mode, pull, value)

    def value(self, v=None):
        if v is None:
            return Pin._states[self.id]
        v = 1 if v else 0
        if Pin._states.get(self.id) != v or not PIN_LOG:
            PIN_LOG.append((self.id, v))
            path = _board.setting("PIN_LOG")
            if path:
                with open(path, "a") as f:
                    f.write(f"{self.id} {v}\n")
        Pin._states[self.id] = v
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3):
        return None

    def __repr__(self):
        return f"Pin({self.id!r})"


class WDT:
    """Ends the process (like a board reset) if feed() is not called within `timeout` ms."""

    def __init__(self, id=0, timeout=5000):
        if timeout < 1:
            raise ValueError("WDT timeout too short")
        self._timeout_s = timeout / 1000
        self._last_feed = time.monotonic()
        thread = threading.Thread(target=self._watch, name="emulated-wdt", daemon=True)
        thread.start()

    def feed(self):
        self._last_feed = time.monotonic()

    def _watch(self):
        while True:
            left = self._last_feed + self._timeout_s - time.monotonic()
            if left <= 0:
                _board.board_exit(
                    _board.WATCHDOG_EXIT_CODE,
                    f"machine: watchdog timeout: not fed for {int(self._timeout_s * 1000)} ms,"
                    " resetting",
                )
            time.sleep(min(left, 0.05))


def reset():
    _board.board_exit(_board.RESET_EXIT_CODE, "machine: reset()")


def soft_reset():
    _board.board_exit(_board.RESET_EXIT_CODE, "machine: soft_reset()")


def reset_cause():
    return int(_board.setting("RESET_CAUSE", PWRON_RESET))


def unique_id():
    # Stable per flash folder, like a board's MAC-derived id: 6 bytes.
    return hashlib.sha256(os.getcwd().encode()).digest()[:6]


_freq = [160000000]


def freq(hz=None):
    if hz is None:
        return _freq[0]
    _freq[0] = int(hz)


def idle():
    time.sleep(0.001)


def lightsleep(ms=None):
    time.sleep((ms or 0) / 1000)


def deepsleep(ms=None):
    if ms:
        time.sleep(ms / 1000)
    reset()


def disable_irq():
    return 0


def enable_irq(state=0):
    return None
