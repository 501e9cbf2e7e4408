"""A board's process on the host: its merged output line by line, and polling helpers.

The emulated board (host_tools/emulated_board) and the Unix port runner (host_tools/unix_port.py)
both return a BoardProcess, so tests never sleep blindly (wait_for_line, wait_for_exit). With
`reboot`, an exit code of the board fakes' table (host_tools/board_fakes/exit_codes.py) starts a
fresh process whose machine.reset_cause() says which reset it was, as a board would.
"""

import os
import re
import subprocess
import threading
import time

from host_tools.board_fakes.exit_codes import NEXT_BOOT

# the boot mode handed to the next process (read by emulated_board/_boot.py)
BOOT_ENV = "EMULATED_BOARD_BOOT"


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
            if self.reboot and code in NEXT_BOOT and not self._stopping:
                env = dict(self.env or os.environ)
                env[BOOT_ENV] = NEXT_BOOT[code]
                note = f"{self.name}: reboot (exit code {code}: {NEXT_BOOT[code]})"
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


def process_env(extra):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env
