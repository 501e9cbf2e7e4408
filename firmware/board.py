# board.py: the watchdog and the status LED (machine). Wi-Fi, NTP, files and randomness are in
# link.py, loaded only while connecting. No machine.WDT -> no watchdog.


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
