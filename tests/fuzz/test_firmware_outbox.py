"""firmware/outbox_queue.py's segment reader under fuzzing. A small segment is now read in one go
and parsed in RAM; whatever the file holds (whole entries, a torn last one, garbage), the entries
are those the entry-by-entry reader of the file gave before, and whole entries come back as
written. (A segment over the one-read size still goes entry by entry: tests/firmware's table.)"""

import os
import tempfile

import outbox_queue
from hypothesis import example, given
from hypothesis import strategies as st

from ._limits import bounded

entries = st.lists(
    st.tuples(st.binary(max_size=40), st.binary(max_size=60), st.booleans()), max_size=8
)


def _segment(items):
    # what Outbox._write_entries writes
    out = b""
    for topic, payload, dup in items:
        out += b"%d %d%s\n" % (len(topic), len(payload), b" d" if dup else b"")
        out += topic + payload + b"\n"
    return out


def _read_before(path):
    # Outbox._read_segment as it was: readline and read on the file itself
    out = []
    try:
        with open(path, "rb") as f:
            while True:
                head = f.readline()
                if not head:
                    break
                parts = head.split()
                if len(parts) not in (2, 3):
                    break
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


def _read(data):
    assert len(data) < 2048  # the one-read path
    with tempfile.TemporaryDirectory() as folder:
        box = outbox_queue.Outbox.__new__(outbox_queue.Outbox)  # no boot scan: just the reader
        box.directory = folder
        with open(box._path(7), "wb") as f:
            f.write(data)
        got = bounded(box._read_segment, 7)
        assert got == _read_before(box._path(7))
    return got


@given(entries)
def test_segment_read_whole_entries_come_back_as_written(items):
    got = _read(_segment(items))
    assert [(e[0], e[1], e[4]) for e in got] == items
    assert all(e[2] == 0 and e[3] is False for e in got)


@given(entries, st.data())
def test_segment_read_torn_last_entry_ends_the_segment(items, data):
    whole = _segment(items)
    cut = data.draw(st.integers(min_value=0, max_value=len(whole)))
    got = _read(whole[:cut])
    assert [(e[0], e[1], e[4]) for e in got] == items[: len(got)]


# garbage of 16 bytes at most: a header number stays under 2**63 (read() of a bigger one raises
# OverflowError, in both readers)
@given(entries, st.binary(max_size=16), st.integers(min_value=0, max_value=400))
@example([], b"3 2\nabcde\n", 0)
@example([], b"-1 0\n\n", 0)
@example([], b"1 1 d x\nab\n", 0)
@example([], b"0 0", 0)
@example([], b"x 1\n", 0)
def test_segment_read_garbage_gives_what_the_file_reader_gave(items, garbage, at):
    whole = _segment(items)
    at = min(at, len(whole))
    _read(whole[:at] + garbage + whole[at:])


def test_segment_read_missing_file_is_empty():
    with tempfile.TemporaryDirectory() as folder:
        box = outbox_queue.Outbox.__new__(outbox_queue.Outbox)
        box.directory = os.path.join(folder, "gone")
        assert box._read_segment(7) == []
