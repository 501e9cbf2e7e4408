# Shared state of the emulated board: exit codes the runner understands, and the environment knobs.
import os
import sys

# machine.reset() and a starving watchdog end the process with these, so a runner can "reboot".
RESET_EXIT_CODE = 86
WATCHDOG_EXIT_CODE = 87


def setting(name, default=None):
    """A knob of the emulated board, from the environment (EMULATED_BOARD_<NAME>)."""
    return os.environ.get("EMULATED_BOARD_" + name, default)


def board_exit(code, message):
    """End the whole process now (from any thread), as a reset would: no cleanup, output flushed."""
    try:
        sys.stdout.flush()
    except Exception:
        pass
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(code)
