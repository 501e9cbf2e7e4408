"""firmware/outbox_queue.py's segment reader under fuzzing. A small segment is now read in one go
and parsed in RAM; whatever the file holds (whole entries, a torn last one, garbage), the entries
are those the firmware's entry-by-entry reader of the file gives, and whole entries come back as
written. (A segment over the one-read size still goes entry by entry: tests/firmware's table.)"""

import os
import tempfile

import outbox_queue
import pytest
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


def _read_from_the_file(box, number):
    # the firmware's own entry-by-entry path (what every segment took before), forced by a
    # one-read size of 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(outbox_queue, "_SEGMENT_READ_WHOLE", 0)
        return bounded(box._read_segment, number)


def _read(data):
    assert len(data) < outbox_queue._SEGMENT_READ_WHOLE  # the one-read path
    with tempfile.TemporaryDirectory() as folder:
        box = outbox_queue.Outbox.__new__(outbox_queue.Outbox)  # no boot scan: just the reader
        box.directory = folder
        with open(box._path(7), "wb") as f:
            f.write(data)
        got = bounded(box._read_segment, 7)
        assert got == _read_from_the_file(box, 7)
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
