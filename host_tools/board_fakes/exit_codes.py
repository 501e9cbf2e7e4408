# How a fake board's process ends, and the boot that follows: the one table the device side
# (fake_machine, the virtual board's REPL) and both supervisors (host_tools/board_process.py,
# host_tools/virtual_board/board.py) read. Plain constants: it runs on CPython and MicroPython.
EXIT_SOFT_RAW = 40  # soft reset from the raw REPL: come back in the raw REPL, skip main.py
EXIT_SOFT = 41  # machine.soft_reset(), Ctrl-D at the friendly REPL: boot.py and main.py again
EXIT_HARD = 42  # machine.reset()
EXIT_EOF = 43  # the host closed the device's stdin: it is shutting down (no reboot)
EXIT_WDT = 44  # the watchdog was not fed in time
EXIT_DEEPSLEEP = 45  # machine.deepsleep(): wakes as a reset

# exit code -> boot mode of the next process
NEXT_BOOT = {
    EXIT_SOFT_RAW: "raw",
    EXIT_SOFT: "soft",
    EXIT_HARD: "hard",
    EXIT_WDT: "wdt",
    EXIT_DEEPSLEEP: "deepsleep",
}

# boot mode -> machine.reset_cause() (the ESP32 port's values)
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
RESET_CAUSE = {
    "power": PWRON_RESET,
    "hard": HARD_RESET,
    "wdt": WDT_RESET,
    "deepsleep": DEEPSLEEP_RESET,
    "soft": SOFT_RESET,
    "raw": SOFT_RESET,
}
