# outbox_queue.py: the telemetry queue. RAM holds a few messages while online; while offline (or
# when RAM is full, or flash already holds older ones) messages go to flash segment files, so the
# queue survives a reboot and stays in order: RAM entries are always older than flash ones.
# Delivery is at-least-once: a segment file is removed only once every message in it is acked.
# Power cuts: a segment that existed at boot is never appended to again (a cut during an append
# leaves a torn entry at its end; the reader stops there), so later messages go to a new one.
import os

from cold import cold_call
from micropython import const

_SEGMENT_FIRST = const(1000000000)
_SEGMENT_MAX = const(8)  # messages per segment file, and how many are loaded into RAM at once
_SEGMENT_READ_WHOLE = const(2048)  # a segment shorter than this is read in one go (8 x 250 B)


def _segment_parse(data, out):
    # Outbox._read_segment's loop below, on a segment in RAM: the same entries, the same stop.
    i = 0
    while i < len(data):
        j = data.find(b"\n", i)
        if j < 0:
            return
        parts = data[i:j].split()
        if len(parts) not in (2, 3):
            return
        tlen = int(parts[0])
        plen = int(parts[1])
        p = j + 1 + tlen
        i = p + plen + 1  # past the entry's closing newline
        if tlen < 0 or plen < 0 or i > len(data) or data[i - 1] != 10:
            return
        out.append([data[j + 1 : p], data[p : i - 1], 0, False, len(parts) == 3])


class Outbox:
    def __init__(self, directory="outbox", max_messages=1000, policy="drop_oldest", ram_max=8):
        self.directory = directory
        self.max_messages = max_messages
        self.policy = policy
        self.ram_max = ram_max
        self.pending = []  # [topic, payload, pid, segment number or 0 (RAM), sent_before (DUP)]
        self.segments = {}  # segment number -> message count
        # Segments whose messages are in pending -> how many are unacked. Two at most: the next
        # one is read while the last is in flight, so the window never empties between them.
        self.live = {}
        # Kept as they change, so a put costs the same with 2 segments or 250 (a scan of the
        # dict per message made 2000 queued messages quadratic).
        self.disk = 0  # messages in segments not live
        self.newest = 0  # the highest-numbered segment not live (meaningful while disk > 0)
        self.dropped_unreported = 0
        self.dropped_total = 0
        self.sealed = 0  # segments numbered up to this one were there at boot: never appended to
        self.segments, self.disk, self.sealed = cold_call("outbox_scan", "outbox_scan", self)
        self.newest = self.sealed

    # -- flash --------------------------------------------------------------------------------
    def _path(self, number):
        return "%s/%d.seg" % (self.directory, number)

    def _read_segment(self, number):
        # A small segment is read in one go and parsed in RAM (the Unix port's readline reads a
        # byte per syscall); a big one (a message may be 256 KB) entry by entry from the file.
        out = []
        try:
            with open(self._path(number), "rb") as f:
                data = None
                try:
                    data = f.read(_SEGMENT_READ_WHOLE)
                except MemoryError:  # no free block that big just now: from the file
                    pass
                if data is not None and len(data) < _SEGMENT_READ_WHOLE:  # all of it
                    _segment_parse(data, out)
                    return out
                f.seek(0)
                while True:
                    head = f.readline()
                    if not head:
                        break
                    parts = head.split()
                    if len(parts) not in (2, 3):
                        break  # a torn write at the end: keep what came before
                    tlen = int(parts[0])
                    plen = int(parts[1])
                    topic = f.read(tlen)
                    payload = f.read(plen)
                    if len(topic) != tlen or len(payload) != plen or f.read(1) != b"\n":
                        break
                    out.append([topic, payload, 0, False, len(parts) == 3])
        except (OSError, ValueError):
            pass
        return out

    def _write_entries(self, number, entries, mode):
        with open(self._path(number), mode) as f:
            for e in entries:
                # a third field marks a message sent before, on a connection that died
                f.write(("%d %d%s\n" % (len(e[0]), len(e[1]), " d" if e[4] else "")).encode())
                f.write(e[0])
                f.write(e[1])
                f.write(b"\n")

    def _remove(self, number):
        try:
            os.remove(self._path(number))
        except OSError:
            pass
        self.segments.pop(number, None)

    def __len__(self):
        return len(self.pending) + self.disk

    def _drop_for_room(self):
        # -> True when the new message may be stored.
        if len(self) < self.max_messages:
            return True
        if self.policy == "drop_newest":
            self._count_dropped(1)
            return False
        candidates = [n for n in self.segments if n not in self.live]
        if candidates:
            oldest = min(candidates)
            self._count_dropped(self.segments[oldest])
            self.disk -= self.segments[oldest]
            self._remove(oldest)
            return True
        # Everything is in RAM: drop the oldest unsent RAM entry.
        for e in self.pending:
            if not e[2]:
                self.pending.remove(e)
                self._count_dropped(1)
                return True
        self._count_dropped(1)
        return False

    def _count_dropped(self, n):
        self.dropped_unreported += n
        self.dropped_total += n

    def take_dropped(self):
        n = self.dropped_unreported
        self.dropped_unreported = 0
        return n

    # -- queue --------------------------------------------------------------------------------
    def put(self, topic, payload, online):
        # -> False when the message was dropped by the "drop_newest" policy.
        if not self._drop_for_room():
            return False
        entry = [topic, payload, 0, False, False]
        if online and not self.disk and len(self.pending) < self.ram_max:
            self.pending.append(entry)
            return True
        if self.disk:
            newest = self.newest
            if self.segments[newest] < _SEGMENT_MAX and newest > self.sealed:
                self._write_entries(newest, (entry,), "ab")
                self.segments[newest] += 1
                self.disk += 1
                return True
            number = newest + 1
        else:
            number = max(_SEGMENT_FIRST, self.sealed + 1)
            for n in self.live:
                if number <= n:
                    number = n + 1
        self._write_entries(number, (entry,), "wb")
        self.segments[number] = 1
        self.disk += 1
        self.newest = number
        return True

    def next_unsent(self):
        # The oldest message not yet published in this connection, reading flash when needed
        # (flash messages are always newer than RAM ones, so they go after them).
        for e in self.pending:
            if not e[2]:
                return e
        if len(self.live) < 2 and self.disk:
            on_disk = [n for n in self.segments if n not in self.live]  # once per segment
            if on_disk:
                number = min(on_disk)
                self.disk -= self.segments[number]
                entries = self._read_segment(number)
                if not entries:
                    self._remove(number)
                    return None
                for e in entries:
                    e[3] = number
                self.pending.extend(entries)
                self.live[number] = len(entries)
                return entries[0]
        return None

    def ack(self, entry):
        try:
            self.pending.remove(entry)
        except ValueError:
            return
        number = entry[3]
        if number and number in self.live:
            self.live[number] -= 1
            if self.live[number] <= 0:
                del self.live[number]
                self._remove(number)

    def inflight_reset(self):
        # After a disconnect nothing is in flight: everything unacked is sent again (same $.mid),
        # with DUP set on what went out on the dead connection.
        for e in self.pending:
            if e[2]:
                e[4] = True
            e[2] = 0

    def persist(self):
        # Offline or stopping: move RAM entries (and the live segments' unacked ones) to one
        # new segment before everything on flash, then drop the live segments' files.
        if not self.pending:
            return
        number = (min(self.segments) - 1) if self.segments else _SEGMENT_FIRST
        self._write_entries(number, self.pending, "wb")
        if not self.disk:
            self.newest = number
        self.segments[number] = len(self.pending)
        self.disk += len(self.pending)
        for n in list(self.live):
            self._remove(n)
        self.live = {}
        self.pending = []
