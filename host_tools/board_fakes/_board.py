# State every fake shares: the flash folder and boot mode the runtime started with, the knobs
# (environment variables BOARD_FAKE_<NAME>), and ending the process as a reset does.
import os
import sys

FLASH = ""
BOOT = "power"

try:
    import ffi  # the MicroPython Unix port: libc's _exit, no cleanup

    _exit = ffi.open("libc.so.6").func("v", "_exit", "i")
except ImportError:  # CPython
    _exit = os._exit


# fake module -> the board module it stands in for (MicroPython's built-in `machine` cannot be
# shadowed by a file, so each fake is installed into sys.modules under the board's name)
FAKES = (("fake_machine", "machine"), ("fake_network", "network"), ("fake_ntptime", "ntptime"))


def start(flash, boot="power"):
    # Called once by the runtime's start-up, before any user code runs.
    global FLASH, BOOT
    FLASH = flash
    BOOT = boot or "power"
    for fake, name in FAKES:
        module = __import__(fake)
        sys.modules[name] = module
        sys.modules["u" + name] = module


def setting(name, default=None):
    return os.getenv("BOARD_FAKE_" + name) or default


def setting_file(name, default):
    # A knob read from a file on every call, so a test can change it mid-run.
    path = setting(name + "_FILE")
    if path:
        try:
            with open(path) as f:
                return f.read().strip() or default
        except OSError:
            pass
    return setting(name, default)


def board_exit(code, message):
    # End the whole process now (from any thread), output flushed, as a reset would.
    try:
        print(message)
        sys.stdout.flush()
    except Exception:
        pass
    _exit(code)
