"""Serial ports: open one for mpremote, and turn every way that fails into one clear line."""

import ast
import contextlib
import io
import os
import threading
import time
from pathlib import Path

import serial

from host_tools.errors import UserError

REPL_TIMEOUT = 10.0  # seconds for a board to show the raw REPL prompt

_URL_PREFIXES = ("socket://", "rfc2217://", "loop://", "spy://")


def is_url(port: str) -> bool:
    return port.startswith(_URL_PREFIXES)


def _describe(pid: str) -> str:
    try:
        return f"{pid} ({Path('/proc', pid, 'comm').read_text().strip()})"
    except OSError:
        return pid


def port_holders(port: str) -> list[str]:
    """'PID (name)' of the process locking `port` (exclusive open), else of all that have it open.

    Linux only (/proc/locks, /proc/PID/fd); empty elsewhere.
    """
    try:
        target = os.path.realpath(port)
        st = os.stat(target)
    except OSError:
        return []
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        lockers = [
            fields[4]
            for fields in (line.split() for line in Path("/proc/locks").read_text().splitlines())
            if len(fields) > 5 and fields[5] == inode
        ]
    except OSError:
        lockers = []
    if lockers:
        return [_describe(pid) for pid in lockers]
    holders = []
    for proc in Path("/proc").glob("[0-9]*"):
        if int(proc.name) == os.getpid():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    holders.append(_describe(proc.name))
                    break
            except OSError:
                continue
    return holders


def check_port(port: str) -> None:
    """Raise UserError when `port` is missing or held by another program; return when usable."""
    if is_url(port):
        return
    if not os.path.exists(port):
        raise UserError(f"no board on {port}: the port does not exist; check the cable and --port")
    try:
        handle = serial.serial_for_url(port, do_not_open=True, exclusive=True)
        handle.open()
        handle.close()
    except serial.SerialException as exc:
        text = str(exc)
        if "lock" in text or "busy" in text.lower():
            raise UserError(port_busy_message(port)) from None
        raise UserError(f"cannot open {port}: {text}") from None
    except OSError as exc:
        raise UserError(f"cannot open {port}: {exc.strerror or exc}") from None


def port_busy_message(port: str) -> str:
    holders = port_holders(port)
    who = f"{', '.join(holders)} has it open" if holders else "another program has it open"
    return f"port {port} is busy: {who}; close it (serial monitor, mpremote, IDE) and retry"


def open_transport(port: str, timeout: float = 2.0):
    """An mpremote SerialTransport on `port`, in the raw REPL after a soft reset."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    try:
        transport = SerialTransport(port, baudrate=115200, timeout=timeout)
    except TransportError:
        check_port(port)  # raises the precise reason
        raise UserError(f"cannot open {port}") from None
    printed = io.StringIO()  # mpremote prints what it got (raw bytes) before it gives up
    # mpremote checks its overall timeout only when a read comes back empty: a program that
    # prints every few hundred ms and swallows Ctrl-C would hold it forever on a pty
    watchdog = PortWatchdog(transport, REPL_TIMEOUT + 2)
    try:
        with contextlib.redirect_stdout(printed):
            transport.enter_raw_repl(soft_reset=True, timeout_overall=REPL_TIMEOUT)
    except (TransportError, OSError, serial.SerialException, TypeError, AttributeError):
        transport_close(transport)
        if watchdog.fired:  # it printed on and on, and never gave us the REPL
            raise UserError(
                f"the board on {port} keeps running its program and ignores Ctrl-C: let "
                "KeyboardInterrupt through in main.py, or flash MicroPython again to start clean"
            ) from None
        said = board_said(printed.getvalue())
        raise UserError(
            f"no MicroPython REPL answered on {port}: is MicroPython flashed "
            "(`python -m host_tools flash`), and is this the board's port?"
            + (f" (its last words: {said!r})" if said else "")
        ) from None
    finally:
        watchdog.stop()
    return transport


def transport_close(transport) -> None:
    """Close `transport`, also when PortWatchdog has closed its port already: mpremote's close()
    then clears RTS on a closed pyserial port, which raises TypeError (not OSError)."""
    try:
        transport.close()
    except (OSError, TypeError, AttributeError, serial.SerialException):
        pass


def board_said(printed: str) -> str:
    """The last line a board printed, from mpremote's repr of the raw bytes it read."""
    text = printed.strip()
    try:
        data = ast.literal_eval(text) if text.startswith(("b'", 'b"')) else text.encode()
    except (ValueError, SyntaxError):
        data = text.encode()
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line and not line.startswith(("raw REPL", ">"))]
    return lines[-1][:120] if lines else ""


class PortWatchdog:
    """Closes the port when one step takes longer than `limit` seconds, so reads fail."""

    def __init__(self, transport, limit):
        self.transport, self.limit = transport, limit
        self.fired = False
        self._last = time.monotonic()
        self._done = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def feed(self):
        self._last = time.monotonic()

    def stop(self):
        self._done.set()

    def _watch(self):
        while not self._done.wait(0.1):
            if time.monotonic() - self._last > self.limit:
                self.fired = True
                try:
                    self.transport.serial.close()
                except Exception:
                    pass
                return
