# `machine` of a fake board: pins that keep their levels, a real watchdog, resets that end the
# process with a code from exit_codes (the supervisor starts a fresh one), the ESP32's identity.
import time

import _board
import exit_codes

PWRON_RESET = exit_codes.PWRON_RESET
HARD_RESET = exit_codes.HARD_RESET
WDT_RESET = exit_codes.WDT_RESET
DEEPSLEEP_RESET = exit_codes.DEEPSLEEP_RESET
SOFT_RESET = exit_codes.SOFT_RESET

# Every change of a pin's level, in order: (pin id, level); BOARD_FAKE_PIN_LOG names a file too.
PIN_LOG = []
_freq = [160000000]


def reset():
    _board.board_exit(exit_codes.EXIT_HARD, "machine: reset()")


def soft_reset():
    _board.board_exit(exit_codes.EXIT_SOFT, "MPY: soft reboot")


def deepsleep(ms=0):
    if ms:
        time.sleep_ms(ms)
    _board.board_exit(exit_codes.EXIT_DEEPSLEEP, "machine: deepsleep() woke up")


def lightsleep(ms=0):
    time.sleep_ms(ms or 0)


def idle():
    time.sleep_ms(1)


def bootloader(*args):
    reset()


def reset_cause():
    return exit_codes.RESET_CAUSE.get(_board.BOOT, PWRON_RESET)


def unique_id():
    # Stable per flash folder, like a board's MAC-derived id: 6 bytes.
    import hashlib

    return hashlib.sha256(_board.FLASH.encode()).digest()[:6]


def freq(hz=None):
    if hz is None:
        return _freq[0]
    _freq[0] = int(hz)


def disable_irq():
    return 0


def enable_irq(state=0):
    return None


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2
    levels = {}  # pin id -> level: a test's exec on the board reads the LED here

    def __init__(self, id, mode=-1, pull=-1, value=None, **kwargs):
        self.id = id
        self.mode = mode
        self.pull = pull
        if id not in Pin.levels:
            Pin.levels[id] = 1 if pull == Pin.PULL_UP else 0
        if value is not None:
            self.value(value)

    def init(self, mode=-1, pull=-1, value=None, **kwargs):
        self.mode = mode
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return Pin.levels.get(self.id, 0)
        v = 1 if v else 0
        if Pin.levels.get(self.id) != v or not PIN_LOG:
            PIN_LOG.append((self.id, v))
            path = _board.setting("PIN_LOG")
            if path:
                with open(path, "a") as f:
                    f.write(f"{self.id} {v}\n")
        Pin.levels[self.id] = v
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, **kwargs):
        return None

    def __repr__(self):
        return f"Pin({self.id!r})"


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
    # A real watchdog: a thread resets the board when feed() stops coming.
    def __init__(self, id=0, timeout=5000):
        import _thread

        if timeout < 1:
            raise ValueError("WDT timeout too short")
        self._timeout = int(timeout)
        self._last = time.ticks_ms()
        _thread.start_new_thread(self._watch, ())

    def feed(self):
        self._last = time.ticks_ms()

    def _watch(self):
        while True:
            left = self._timeout - time.ticks_diff(time.ticks_ms(), self._last)
            if left <= 0:
                _board.board_exit(
                    exit_codes.EXIT_WDT,
                    f"machine: watchdog timeout: not fed for {self._timeout} ms, resetting",
                )
            time.sleep_ms(min(left, 50))


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
