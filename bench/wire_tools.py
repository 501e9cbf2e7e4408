"""Plumbing for the wire bench: a counting TCP proxy and a child process whose output lines are
time-stamped and whose peak RSS (VmHWM) is polled from /proc.

    with CountingProxy(upstream_port) as proxy:   # clients connect to proxy.port
        proxy.counts()                            # (client->broker bytes, broker->client bytes)
    run = TimedProcess(argv, cwd, env)
    seconds, line = run.wait_for("bench: connected")
    run.wait_exit(); run.peak_rss_kb
"""

import socket
import subprocess
import threading
import time

from tests.listening import stop_listening


class CountingProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:upstream and counts TCP payload bytes each way
    (TLS records included: what a radio would carry, minus TCP/IP headers)."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self._up = self._down = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._accept_thread = threading.Thread(target=self._accept, name="proxy", daemon=True)
        self._accept_thread.start()

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return self._up, self._down

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):  # forward at once: counting must not add latency
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source, sink, up):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    if up:
                        self._up += len(data)
                    else:
                        self._down += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self._closed = True
        stop_listening(self._listener, self._accept_thread)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class TimedProcess:
    """A child process; `lines` are (seconds since start, text); `peak_rss_kb` once it exits."""

    def __init__(self, argv, cwd, env):
        self.lines: list[tuple[float, str]] = []
        self.returncode = None
        self.peak_rss_kb = None
        self.elapsed = None
        self._changed = threading.Condition()
        self.started = time.perf_counter()
        self._proc = subprocess.Popen(
            argv,
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._read, name="timed-process", daemon=True).start()
        threading.Thread(target=self._poll_rss, name="timed-process-rss", daemon=True).start()

    def _poll_rss(self):
        # VmHWM, not wait4's ru_maxrss: that one counts the pages of the forked parent before exec
        status = f"/proc/{self._proc.pid}/status"
        while self.returncode is None:
            try:
                with open(status) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peak_rss_kb = max(self.peak_rss_kb or 0, int(line.split()[1]))
            except (OSError, ValueError):
                return
            time.sleep(0.005)

    def _read(self):
        for raw in iter(self._proc.stdout.readline, b""):
            seen = time.perf_counter() - self.started
            with self._changed:
                self.lines.append((seen, raw.decode("utf-8", "replace").rstrip()))
                self._changed.notify_all()
        code = self._proc.wait()
        ended = time.perf_counter() - self.started
        with self._changed:
            self.elapsed = ended
            self.returncode = code
            self._changed.notify_all()

    def _wait(self, predicate, timeout, what):
        end = time.monotonic() + timeout
        with self._changed:
            while True:
                result = predicate()
                if result is not None:
                    return result
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout} s; output:\n{self.output}")
                self._changed.wait(min(left, 0.1))

    @property
    def output(self) -> str:
        return "\n".join(text for _, text in self.lines[-40:])

    def wait_for(self, prefix: str, timeout: float = 60.0) -> tuple[float, str]:
        """(seconds from start to the first line starting with `prefix`, that line)."""

        def found():
            for seen, text in self.lines:
                if text.startswith(prefix):
                    return seen, text
            if self.returncode is not None:
                raise AssertionError(
                    f"exited ({self.returncode}) without printing {prefix!r}; output:\n"
                    + self.output
                )
            return None

        return self._wait(found, timeout, f"line {prefix!r}")

    def wait_exit(self, timeout: float = 60.0) -> int:
        return self._wait(lambda: self.returncode, timeout, "exit")

    def kill(self):
        if self.returncode is None:
            try:
                self._proc.kill()
            except OSError:
                pass
            self.wait_exit(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
