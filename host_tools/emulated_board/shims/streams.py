# MicroPython's stream methods (read/readinto/readline/write) on CPython, written once for plain
# sockets (_patches.py) and TLS sockets (tls.py). A class supplies three hooks:
#   _check()            raise if the stream can no longer be used
#   _recv_some(n)       up to n bytes; b"" at end of stream; None when non-blocking and empty
#   _send_view(view)    bytes written (all of them when blocking); None when it would block


class StreamMethods:
    def _check(self):
        return None

    def read(self, n=-1):
        self._check()
        if n is None or n < 0:  # to end of stream
            chunks = []
            while True:
                chunk = self._recv_some(4096)
                if not chunk:
                    if chunk is None and not chunks:
                        return None
                    return b"".join(chunks)
                chunks.append(chunk)
        got = bytearray()
        while len(got) < n:
            chunk = self._recv_some(n - len(got))
            if chunk is None:
                if not got:
                    return None
                break
            if not chunk:
                break
            got += chunk
        return bytes(got)

    def readinto(self, buf, nbytes=None):
        self._check()
        view = memoryview(buf)
        if nbytes is not None:
            view = view[:nbytes]
        data = self.read(len(view))
        if data is None:
            return None
        view[: len(data)] = data
        return len(data)

    def readline(self):
        self._check()
        line = bytearray()
        while True:
            ch = self._recv_some(1)
            if not ch:
                return bytes(line)
            line += ch
            if ch == b"\n":
                return bytes(line)

    def write(self, buf, off_or_len=None, length=None):
        self._check()
        view = memoryview(buf)
        if length is not None:
            view = view[off_or_len : off_or_len + length]
        elif off_or_len is not None:
            view = view[:off_or_len]
        return self._send_view(view)


STREAM_METHODS = ("read", "readinto", "readline", "write")
