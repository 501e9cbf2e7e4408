"""Run a flash folder's main.py on the CPython emulated board or on the MicroPython Unix port.

Both return a BoardProcess: the running process, its merged output collected line by line, and
polling helpers (wait_for_line, wait_for_exit) so tests never sleep blindly.
"""

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from host_tools.errors import UserError
from host_tools.paths import MICROPYTHON_BIN

BOOT_SCRIPT = Path(__file__).resolve().parent / "_boot.py"
RESET_EXIT_CODE = 86  # machine.reset() on the emulated board (shims/_board.py)
WATCHDOG_EXIT_CODE = 87  # the emulated watchdog starved
_REBOOT_CAUSE = {RESET_EXIT_CODE: "2", WATCHDOG_EXIT_CODE: "3"}  # machine.HARD_RESET, WDT_RESET


class BoardProcess:
    """A board's run: `lines` grows as it prints (stdout and stderr merged, in order)."""

    def __init__(self, argv, cwd, env, name, reboot=False, for_s=None, echo=False):
        self.argv = list(argv)
        self.cwd = str(cwd)
        self.env = env
        self.name = name
        self.reboot = reboot
        self.echo = echo
        self.lines: list[str] = []
        self.boots = 0
        self.returncode = None
        self._changed = threading.Condition()
        self._stopping = False
        self._proc = None
        self._thread = threading.Thread(target=self._supervise, name=f"board-{name}", daemon=True)
        self._start_process(env)
        self._thread.start()
        if for_s is not None:
            timer = threading.Timer(for_s, self.kill)
            timer.daemon = True
            timer.start()

    # -- the process ---------------------------------------------------------------------------
    def _start_process(self, env):
        self.boots += 1
        self._proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def _supervise(self):
        while True:
            proc = self._proc
            for raw in iter(proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if self.echo:
                    print(line, flush=True)
                with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
            code = proc.wait()
            proc.stdout.close()
            if self.reboot and code in _REBOOT_CAUSE and not self._stopping:
                env = dict(self.env or os.environ)
                env["EMULATED_BOARD_RESET_CAUSE"] = _REBOOT_CAUSE[code]
                note = f"emulated-board: reboot (exit code {code})"
                if self.echo:
                    print(note, flush=True)
                with self._changed:
                    self.lines.append(note)
                    self._changed.notify_all()
                self._start_process(env)
                continue
            with self._changed:
                self.returncode = code
                self._changed.notify_all()
            return

    @property
    def pid(self):
        return self._proc.pid

    def running(self):
        return self.returncode is None

    def kill(self):
        """Pull the plug: SIGKILL, no reboot. Returns the exit code."""
        self._stopping = True
        if self._proc.poll() is None:
            self._proc.kill()
        return self.wait_for_exit(10)

    def stop(self, grace_s=2.0):
        """SIGTERM, then SIGKILL after `grace_s`. Returns the exit code."""
        self._stopping = True
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        return self.wait_for_exit(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.running():
            self.kill()

    # -- reading the output --------------------------------------------------------------------
    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def agent_lines(self) -> list[str]:
        with self._changed:
            return [line for line in self.lines if line.startswith("agent:")]

    def _wait(self, predicate, timeout, what):
        end = time.monotonic() + timeout
        with self._changed:
            while True:
                result = predicate()
                if result is not None:
                    return result
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.name}: no {what} within {timeout} s; output so far:\n"
                        + "\n".join(self.lines[-60:])
                    )
                self._changed.wait(min(left, 0.1))

    def wait_for_line(self, pattern, timeout=10.0, start=0):
        """The first line (from index `start`) matching regex `pattern` (a str or compiled)."""
        regex = re.compile(pattern)

        def found():
            for line in self.lines[start:]:
                if regex.search(line):
                    return line
            if self.returncode is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.returncode}) without printing /{regex.pattern}/;"
                    " output:\n" + "\n".join(self.lines[-60:])
                )
            return None

        return self._wait(found, timeout, f"line matching /{regex.pattern}/")

    def count_lines(self, pattern) -> int:
        regex = re.compile(pattern)
        with self._changed:
            return sum(1 for line in self.lines if regex.search(line))

    def wait_for_exit(self, timeout=10.0):
        """The exit code, once the process (and any reboots) have ended."""
        return self._wait(lambda: self.returncode, timeout, "exit")


def _board_env(extra):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def run_emulated_board(
    flash_dir,
    *,
    script="main.py",
    env=None,
    reboot=False,
    for_s=None,
    echo=False,
    python=None,
    tracemalloc=False,
) -> BoardProcess:
    """Start `script` (default main.py) from `flash_dir` under CPython with the board shims.

    `env` adds EMULATED_BOARD_* knobs (WIFI, WIFI_FILE, WIFI_DELAY_MS, PIN_LOG, HEAP); `reboot`
    restarts the process when it calls machine.reset() or its watchdog starves, as a board would;
    `for_s` kills it after that many seconds.
    """
    flash_dir = Path(flash_dir)
    if not flash_dir.is_dir():
        raise UserError(f"{flash_dir}: no such flash folder")
    board_env = _board_env(env)
    if tracemalloc:
        board_env["EMULATED_BOARD_TRACEMALLOC"] = "1"
    argv = [python or sys.executable, "-u", str(BOOT_SCRIPT), str(flash_dir.resolve()), script]
    return BoardProcess(
        argv, flash_dir, board_env, "emulated board", reboot=reboot, for_s=for_s, echo=echo
    )


def run_unix_port(
    flash_dir,
    heapsize=None,
    *,
    script="main.py",
    env=None,
    for_s=None,
    echo=False,
    micropython=None,
) -> BoardProcess:
    """Start `script` from `flash_dir` on the MicroPython Unix port (`-X heapsize=` if given)."""
    flash_dir = Path(flash_dir).resolve()
    binary = Path(micropython or MICROPYTHON_BIN)
    if not os.access(binary, os.X_OK):
        raise UserError(f"{binary}: no MicroPython Unix port; run `make setup`")
    if not flash_dir.is_dir():
        raise UserError(f"{flash_dir}: no such flash folder")
    board_env = _board_env(env)
    board_env["MICROPYPATH"] = f"{flash_dir}:{flash_dir / 'lib'}"
    argv = [str(binary)]
    if heapsize:
        argv += ["-X", f"heapsize={heapsize}"]
    argv.append(script)
    return BoardProcess(argv, flash_dir, board_env, "micropython", for_s=for_s, echo=echo)
