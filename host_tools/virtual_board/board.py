"""The virtual board's host side: a pty for the serial port, the Unix port behind it.

The host owns the pty's master end and a pair of pipes to the device process (the MicroPython
Unix port running `device/vb_repl.py`). It forwards bytes both ways, turns a Ctrl-C on the line
into SIGINT (so a running main.py stops as it would on a board), and starts a fresh device
process after every reset: the exit code says which kind of reset it was (the board fakes'
table, host_tools/board_fakes/exit_codes.py, which the emulated board's supervisor reads too).
"""

import errno
import os
import select
import signal
import subprocess
import termios
import threading
import time
import tty
from pathlib import Path

from host_tools.board_fakes.exit_codes import EXIT_EOF, NEXT_BOOT
from host_tools.errors import UserError
from host_tools.paths import MICROPYTHON_BIN

DEVICE_DIR = Path(__file__).resolve().parent / "device"
REPL_SCRIPT = DEVICE_DIR / "vb_repl.py"

_OUTPUT_KEEP = 1 << 20  # bytes of device output kept for output()
_JOIN_S = 30.0  # a loaded CI machine can starve a thread for seconds


class VirtualBoard:
    """A MicroPython board on a pty. Use as a context manager, or call start() and stop()."""

    def __init__(
        self,
        flash_dir,
        micropython=MICROPYTHON_BIN,
        heap_size=None,
        echo=None,
        fs="littlefs",
        env=None,
    ):
        self.flash_dir = Path(flash_dir).resolve()
        self.fs = fs  # "fat": rename never replaces a file, as on a FAT-formatted board
        self.micropython = Path(micropython)
        self.heap_size = heap_size  # e.g. "160K" to feel like an ESP32 without PSRAM
        self.echo = echo  # optional callable(bytes): every byte the device prints
        # knobs of the board fakes, e.g. {"BOARD_FAKE_WIFI": "down"} (host_tools/board_fakes/)
        self.env = {k: str(v) for k, v in (env or {}).items()}
        self.port = None
        self.boots = []  # one entry per device process started: its boot mode
        self._output = bytearray()
        self._output_lock = threading.Lock()
        self._proc = None
        self._stopping = False
        self._threads = []
        self._power_cut = False
        self._spawn_lock = threading.Lock()

    # -- life cycle --------------------------------------------------------------------

    def start(self):
        if not self.flash_dir.is_dir():
            raise UserError(f"flash folder {self.flash_dir} does not exist: create it first")
        if not os.access(self.micropython, os.X_OK):
            raise UserError(f"{self.micropython} is missing: run `make setup`")
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing before a client configures it
        attrs = termios.tcgetattr(self._slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self._in_r, self._in_w = os.pipe()
        self._out_r, self._out_w = os.pipe()
        self._state_r, self._state_w = os.pipe()
        self._busy = False  # the device runs user code (main.py, an exec): Ctrl-C -> SIGINT
        self._missed_interrupt = False  # a Ctrl-C came while no process could take it
        self._spawn("power")
        for target in (self._pump_in, self._pump_out, self._supervise, self._watch_state):
            thread = threading.Thread(target=target, daemon=True, name=f"vb-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        """Stop the device process and close the pty.

        Every thread is gone before any descriptor closes: a closed number is reused by the
        next pty or pipe this process opens, and a thread still holding it would read another
        board's input or flush its output (a flaky test elsewhere, not here).
        """
        if self._stopping or self.port is None:
            return
        with self._spawn_lock:  # no device process starts after this
            self._stopping = True
        proc = self._proc
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        for fd in (self._in_w, self._out_w, self._state_w):
            _close(fd)  # the pumps see EOF now that the device is gone
        for thread in self._threads:
            thread.join(_JOIN_S)
        if any(thread.is_alive() for thread in self._threads):
            return  # leaking five descriptors beats handing them to the next board
        for fd in (self._master, self._slave, self._in_r, self._out_r, self._state_r):
            _close(fd)

    def __enter__(self):
        return self.start() if self.port is None else self

    def __exit__(self, *exc):
        self.stop()

    # -- what tests and the demo look at -----------------------------------------------

    def output(self) -> str:
        """Everything the device printed so far (the last megabyte), as text."""
        with self._output_lock:
            return self._output.decode("utf-8", "replace")

    def wait_for_output(self, text: str, timeout: float = 10.0, start: int = 0) -> bool:
        """True once `text` appears in output() after character offset `start`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output()[start:]:
                return True
            time.sleep(0.05)
        return False

    def power_cut(self):
        """Kill the device process at once, as pulling the plug would, then power it on."""
        self._power_cut = True
        proc = self._proc
        if proc and proc.poll() is None:
            proc.kill()

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    # -- internals ---------------------------------------------------------------------

    def _spawn(self, boot):
        command = [str(self.micropython)]
        if self.heap_size:
            command += ["-X", f"heapsize={self.heap_size}"]
        command += [str(REPL_SCRIPT), str(self.flash_dir), boot, str(self._state_w)]
        self._busy = False
        self._booting = True  # until the new process says what it runs (see _watch_state)
        # SIGINT stays ignored until MicroPython installs its own handler (KeyboardInterrupt)
        shell = "trap '' INT; exec \"$@\""
        self._proc = subprocess.Popen(
            ["/bin/sh", "-c", shell, "sh", *command],
            stdin=self._in_r,
            stdout=self._out_w,
            stderr=self._out_w,
            cwd=self.flash_dir,
            close_fds=True,
            pass_fds=(self._state_w,),
            env={**os.environ, **self.env, "VB_FS": self.fs},
        )
        self.boots.append(boot)

    def _supervise(self):
        while not self._stopping:
            code = self._proc.wait()
            self._busy, self._booting = False, True  # a reset: the next boot takes any Ctrl-C
            if self._stopping or code == EXIT_EOF:
                return
            if self._power_cut:
                self._power_cut = False
                boot = "power"
            elif code in NEXT_BOOT:
                boot = NEXT_BOOT[code]
            else:
                self._record(f"\r\nvirtual board: device crashed (exit {code}), rebooting\r\n")
                time.sleep(0.2)
                boot = "power"
            with self._spawn_lock:
                if self._stopping:
                    return
                self._spawn(boot)

    def _pump_in(self):
        # host -> device: every byte, and SIGINT for a Ctrl-C so a running program stops
        while not self._stopping:
            try:
                ready, _, _ = select.select([self._master], [], [], 0.2)
                if not ready:
                    continue
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                continue
            try:
                os.write(self._in_w, data)
            except OSError:
                return
            if b"\x04" in data and not self._busy:
                self._booting = True  # a soft reboot may follow: its Ctrl-C window opens now
            if b"\x03" in data:
                if self._busy:
                    self._interrupt()
                elif self._booting:
                    # between two device processes (a reset): whatever this boot runs first,
                    # main.py or the REPL, gets this Ctrl-C, as a board's UART would deliver it
                    self._missed_interrupt = True

    def _interrupt(self):
        proc = self._proc
        if proc and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def _watch_state(self):
        while True:
            try:
                data = os.read(self._state_r, 64)
            except OSError:
                return
            if not data:
                return
            if self._booting:  # the first word of this boot: main.py (B) or the REPL (R)
                self._booting = False
                missed, self._missed_interrupt = self._missed_interrupt, False
                if missed and data[:1] == b"B":
                    self._busy = True
                    self._interrupt()
            self._busy = data[-1:] == b"B"

    def _pump_out(self):
        # device -> host; when nobody reads the port for a while, old output is dropped
        while True:
            try:
                data = os.read(self._out_r, 4096)
            except OSError:
                return
            if not data:
                return
            self._record(data)
            if self.echo:
                self.echo(data)
            self._write_master(data)

    def _write_master(self, data):
        while data and not self._stopping:
            try:
                written = os.write(self._master, data)
                data = data[written:]
            except BlockingIOError:
                _, writable, _ = select.select([], [self._master], [], 0.05)
                if not writable:
                    try:  # nobody reads the port: drop what waits, as a UART would
                        termios.tcflush(self._slave, termios.TCIFLUSH)
                    except (termios.error, OSError):
                        return
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    return
                raise

    def _record(self, data):
        if isinstance(data, str):
            data = data.encode()
        with self._output_lock:
            self._output += data
            if len(self._output) > _OUTPUT_KEEP:
                del self._output[: len(self._output) - _OUTPUT_KEEP]


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def serve(flash_dir, **kwargs) -> VirtualBoard:
    """Start a virtual board on `flash_dir`; returns a handle with .port (the pty) and .stop().

    Also a context manager: `with serve(dir) as board: ... board.port ...`.
    """
    return VirtualBoard(flash_dir, **kwargs).start()
