# Test table of session.py's reading: read_packet over a scripted TLS socket (packets merged in
# one read and split at every byte, waits, a stall half-way, a closed link). Runs under CPython and
# on the MicroPython Unix port; the session's clock is a fake one that only its waits move.
# ruff: noqa: UP031, B904  (MicroPython-compatible: %-formatting, no exception chaining)
import session
from _cases import eq, table_main, table_make
from errors import AgentError
from session import Session

CASES, case = table_make()


class Clock:
    # session.py's `time` in these cases: milliseconds pass only while the session waits.
    def __init__(self):
        self.now = 0

    def ticks_ms(self):
        return self.now

    def ticks_add(self, ticks, delta):
        return ticks + delta

    def ticks_diff(self, end, start):
        return end - start

    def sleep_ms(self, ms):
        self.now += ms


class Link:
    # The TLS socket. Each readinto gives what the next item holds, as much as fits (the rest
    # stays for the next call, as TLS keeps the rest of a record); None: nothing yet (EAGAIN);
    # b"": the hub closed. After the last item nothing comes, ever.
    def __init__(self, items):
        self.items = list(items)
        self.reads = 0

    def readinto(self, view):
        self.reads += 1
        if not self.items:
            return None
        item = self.items[0]
        if item is None:
            self.items.pop(0)
            return None
        if not item:
            return 0
        n = min(len(view), len(item))
        view[:n] = item[:n]
        if n < len(item):
            self.items[0] = item[n:]
        else:
            self.items.pop(0)
        return n

    def close(self):
        pass


class Poller:
    def __init__(self, clock):
        self.clock = clock
        self.waits = 0

    def poll(self, ms):
        self.waits += 1
        self.clock.now += min(ms, 1)


def opened(items, io_timeout_ms=1000, max_incoming=2048):
    clock = Clock()
    session.time = clock
    s = Session("dev-1", "hub", 8883, "user", None, 60, None, io_timeout_ms, max_incoming)
    s.sock = Link(items)
    s.poller = Poller(clock)
    return s


def read(s, wait_ms=0):
    packet = s.read_packet(wait_ms)
    return None if packet is None else (packet[0], bytes(packet[1]), packet[2])


def raises(text, fn, *args):
    try:
        fn(*args)
    except AgentError as exc:
        if text not in exc.message:
            raise AssertionError("%r: not %r" % (exc.message, text))
        return
    raise AssertionError("no AgentError (%r)" % text)


def puback(pid):
    return bytes([0x40, 2, pid >> 8, pid & 0xFF])


def publish(body):
    # a QoS 0 PUBLISH frame whose body is `body` (its parsing is not what these cases check)
    n = len(body)
    length = bytes([n]) if n < 128 else bytes([(n & 0x7F) | 0x80, n >> 7])
    return b"\x30" + length + body


BIG = bytes(range(256)) * 12  # 3,072 bytes: over max_incoming (2,048), drained and cut to 512
STREAM = [
    (puback(1), (0x40, puback(1)[2:], 2)),
    (b"\xd0\x00", (0xD0, b"", 0)),  # PINGRESP
    (b"\x90\x03\x00\x07\x01", (0x90, b"\x00\x07\x01", 3)),  # SUBACK
    (publish(b"a" * 120), (0x30, b"a" * 120, 120)),  # fits the read-ahead
    (publish(b"b" * 200), (0x30, b"b" * 200, 200)),  # two length bytes, over the read-ahead
    (publish(b"c" * 700), (0x30, b"c" * 700, 700)),  # over the session's buffer
    (publish(BIG[:2000]), (0x30, BIG[:2000], 2000)),
    (b"\x30\x80\x18" + BIG, (0x30, BIG[:512], 3072)),
    (puback(65535), (0x40, b"\xff\xff", 2)),
]
WIRE = b"".join(frame for frame, _ in STREAM)
EXPECTED = [packet for _, packet in STREAM]


def read_all(s, wait_ms=0):
    got = []
    while True:
        packet = read(s, wait_ms)
        if packet is None:
            return got
        got.append(packet)


@case
def test_read_packet_burst_in_one_read_costs_one_readinto():
    s = opened([puback(1) + puback(2) + puback(3)])
    eq(read_all(s), [(0x40, puback(i)[2:], 2) for i in (1, 2, 3)])
    eq(s.sock.reads, 2)  # the burst, then "nothing more"
    eq(s.poller.waits, 0)


@case
def test_read_packet_returns_what_is_read_ahead_without_waiting():
    s = opened([puback(1) + puback(2)])
    eq(read(s, 500), (0x40, b"\x00\x01", 2))
    eq(read(s, 500), (0x40, b"\x00\x02", 2))
    eq((s.sock.reads, s.poller.waits, session.time.now), (1, 0, 0))


@case
def test_read_packet_same_packets_however_the_stream_is_cut():
    for size in (1, 2, 3, 5, 7, 64, 127, 128, 129, 513, len(WIRE)):
        chunks = [WIRE[i : i + size] for i in range(0, len(WIRE), size)]
        eq((size, read_all(opened(chunks))), (size, EXPECTED))
        # with the link quiet between pieces: a packet started is waited for
        quiet = []
        for chunk in chunks:
            quiet += [chunk, None]
        eq((size, read_all(opened(quiet, 100000), 20)), (size, EXPECTED))


@case
def test_read_packet_nothing_within_wait_returns_none():
    s = opened([])
    eq(read(s), None)
    eq(s.poller.waits, 0)  # wait 0: no poll at all
    eq(read(s, 50), None)
    eq(session.time.now >= 50, True)


@case
def test_read_packet_link_stalls_half_way_is_dead():
    for items in ([b"\x40"], [b"\x40\x02\x00"], [b"\x30\x81"], [publish(b"x" * 300)[:200]]):
        s = opened(items, io_timeout_ms=100)
        raises("stalled in the middle of a packet", s.read_packet, 0)
        eq(session.time.now >= 100, True)


@case
def test_read_packet_hub_closed_after_a_packet():
    s = opened([puback(9) + b"\x40", b""])
    eq(read(s), (0x40, b"\x00\x09", 2))
    raises("the hub closed the connection", s.read_packet, 0)
    s.sock = Link([puback(10)])  # nothing of the dead link is left to read, even without close()
    eq(read(s), (0x40, b"\x00\x0a", 2))
    raises("the hub closed the connection", opened([b""]).read_packet, 0)


@case
def test_read_packet_malformed_length_is_a_protocol_error():
    s = opened([b"\x30\xff\xff\xff\xff\x01"])
    raises("malformed packet", s.read_packet, 0)


@case
def test_read_packet_pingresp_clears_the_ping():
    for items in ([b"\xd0\x00"], [b"\xd0", b"\x00"]):
        s = opened(items)
        s.ping_sent_at = 5
        eq(read(s), (0xD0, b"", 0))
        eq(s.ping_sent_at, None)


@case
def test_close_drops_what_was_read_ahead():
    s = opened([puback(1) + puback(2)])
    eq(read(s), (0x40, b"\x00\x01", 2))
    s.close()
    s.sock = Link([puback(3)])  # the next connection
    eq(read(s), (0x40, b"\x00\x03", 2))
    eq(read(s), None)


if __name__ == "__main__":
    table_main("cases_session", CASES)
