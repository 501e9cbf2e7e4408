# Test table of outbox.py (order, flash spill, reboot survival, full policies). Runs under CPython
# and on the MicroPython Unix port; uses the directory "outbox_test" in the current directory.
# ruff: noqa: UP031, B904  (MicroPython-compatible: %-formatting, no exception chaining)
import os

from _cases import eq, table_main, table_make
from outbox_queue import Outbox

CASES, case = table_make()
DIR = "outbox_test"


def fresh(max_messages=1000, policy="drop_oldest", ram_max=4):
    try:
        for name in os.listdir(DIR):
            os.remove(DIR + "/" + name)
    except OSError:
        pass
    return Outbox(DIR, max_messages, policy, ram_max)


def drain(box, limit=1000):
    # Publish and ack everything in order, like the agent does; returns the payloads.
    out = []
    while limit:
        limit -= 1
        e = box.next_unsent()
        if e is None:
            return out
        e[2] = 1
        out.append(e[1])
        box.ack(e)
    return out


def msg(i):
    return ("t/%d" % i).encode(), ('{"i": %d}' % i).encode()


@case
def test_outbox_online_stays_in_ram_in_order():
    box = fresh()
    for i in range(3):
        box.put(*msg(i), online=True)
    eq(len(box.pending), 3)
    eq(box.segments, {})
    eq(drain(box), [msg(i)[1] for i in range(3)])
    eq(len(box), 0)


@case
def test_outbox_offline_spills_to_flash_and_survives_reboot():
    box = fresh()
    for i in range(40):
        box.put(*msg(i), online=False)
    eq(len(box.pending), 0)
    eq(len(box), 40)
    again = Outbox(DIR, 1000, "drop_oldest", 4)  # a reboot
    eq(len(again), 40)
    eq(drain(again), [msg(i)[1] for i in range(40)])
    eq(os.listdir(DIR), [])


@case
def test_outbox_ram_full_spills_and_keeps_order():
    box = fresh(ram_max=4)
    for i in range(10):
        box.put(*msg(i), online=True)
    eq(len(box.pending), 4)
    eq(drain(box), [msg(i)[1] for i in range(10)])


@case
def test_outbox_persist_puts_ram_before_flash():
    box = fresh(ram_max=2)
    for i in range(5):
        box.put(*msg(i), online=True)  # 0,1 in RAM; 2,3,4 on flash
    first = box.next_unsent()
    first[2] = 7  # in flight when the link drops
    box.inflight_reset()
    box.persist()
    eq(len(box.pending), 0)
    again = Outbox(DIR, 1000, "drop_oldest", 2)
    eq(drain(again), [msg(i)[1] for i in range(5)])


@case
def test_outbox_loaded_segment_unacked_survives_reboot():
    box = fresh()
    for i in range(3):
        box.put(*msg(i), online=False)
    e = box.next_unsent()
    e[2] = 1
    box.ack(e)  # 0 acked, 1 and 2 loaded but not acked: the file stays
    again = Outbox(DIR, 1000, "drop_oldest", 4)
    got = drain(again)
    eq(got[-2:], [msg(1)[1], msg(2)[1]])  # at-least-once: 0 may come again


@case
def test_outbox_full_drop_newest_counts():
    box = fresh(max_messages=3, policy="drop_newest")
    for i in range(5):
        box.put(*msg(i), online=False)
    eq(len(box), 3)
    eq(box.take_dropped(), 2)
    eq(box.take_dropped(), 0)
    eq(drain(box), [msg(i)[1] for i in range(3)])


@case
def test_outbox_full_drop_oldest_drops_a_segment():
    box = fresh(max_messages=40, policy="drop_oldest")
    for i in range(41):
        box.put(*msg(i), online=False)
    eq(box.dropped_total, 8)  # the oldest segment file (8 messages)
    eq(drain(box), [msg(i)[1] for i in range(8, 41)])


def entry_bytes(topic, payload):
    # One outbox entry as Outbox._write_entries appends it.
    return ("%d %d\n" % (len(topic), len(payload))).encode() + topic + payload + b"\n"


@case
def test_outbox_torn_append_at_every_byte_loses_nothing_queued_after_reboot():
    # A power cut while an entry is appended leaves part of it at the end of the newest
    # segment. After the reboot, what was whole before the cut and everything queued after it
    # must come out, in order; the torn message itself was never queued (put had not returned).
    torn = entry_bytes(*msg(3))
    for cut in range(len(torn)):
        box = fresh()
        for i in range(3):
            box.put(*msg(i), online=False)
        (number,) = list(box.segments)
        with open(box._path(number), "ab") as f:
            f.write(torn[:cut])
        again = Outbox(DIR, 1000, "drop_oldest", 4)  # the reboot
        eq(len(again), 3)
        for i in range(10, 15):
            again.put(*msg(i), online=False)
        eq(len(again), 8)
        got = drain(again)
        if got != [msg(i)[1] for i in (0, 1, 2, 10, 11, 12, 13, 14)]:
            raise AssertionError("cut after %d of %d bytes: got %r" % (cut, len(torn), got))
        eq(os.listdir(DIR), [])


def big_msg(i):
    # a message of ~1.5 KB: a segment of two is over the size the outbox reads in one go (2 KB)
    return ("t/%d" % i).encode(), ('{"i": %d, "pad": "%s"}' % (i, "x" * 1500)).encode()


@case
def test_outbox_big_segment_read_entry_by_entry_keeps_order_and_torn_rule():
    # A segment over the one-read size is read entry by entry: same entries, same torn-entry rule.
    torn = entry_bytes(*big_msg(3))
    for cut in list(range(14)) + [len(torn) // 2, len(torn) - 2, len(torn) - 1]:
        box = fresh()
        for i in range(3):
            box.put(*big_msg(i), online=False)
        (number,) = list(box.segments)
        with open(box._path(number), "ab") as f:
            f.write(torn[:cut])
        eq(os.stat(box._path(number))[6] > 2048, True)
        again = Outbox(DIR, 1000, "drop_oldest", 4)  # the reboot
        eq(len(again), 3)
        again.put(*big_msg(10), online=False)
        got = drain(again)
        if got != [big_msg(i)[1] for i in (0, 1, 2, 10)]:
            raise AssertionError("cut after %d of %d bytes: got %d" % (cut, len(torn), len(got)))
        eq(os.listdir(DIR), [])


@case
def test_outbox_message_resent_after_a_lost_connection_is_marked_dup_across_flash():
    box = fresh(ram_max=4)
    for i in range(3):
        box.put(*msg(i), online=True)
    first = box.next_unsent()
    first[2] = 5  # in flight on the connection that dies
    box.inflight_reset()
    box.persist()
    again = Outbox(DIR, 1000, "drop_oldest", 4)
    got = []
    while True:
        e = again.next_unsent()
        if e is None:
            break
        got.append((e[1], e[4]))
        e[2] = 1
        again.ack(e)
    eq(got, [(msg(0)[1], True), (msg(1)[1], False), (msg(2)[1], False)])


@case
def test_outbox_next_segment_read_while_the_last_is_in_flight():
    # The window must not empty at a segment boundary (it did: 8 out, wait for all 8 PUBACKs).
    box = fresh()
    for i in range(20):
        box.put(*msg(i), online=False)
    flight = []
    for _ in range(8):
        e = box.next_unsent()
        e[2] = 1
        flight.append(e)
    box.ack(flight.pop(0))  # one PUBACK: one more may go out, from the next segment
    e = box.next_unsent()
    eq(e[1], msg(8)[1])
    e[2] = 1
    flight.append(e)
    # the link dies with 0..7 and 8 partly unacked: persisted ahead, nothing lost, order kept
    box.inflight_reset()
    box.persist()
    again = Outbox(DIR, 1000, "drop_oldest", 4)
    eq(drain(again), [msg(i)[1] for i in range(1, 20)])
    eq(os.listdir(DIR), [])


@case
def test_outbox_counts_match_flash_through_spill_drain_drop_persist_and_reboot():
    # len() and the append target are kept as they change (not recounted per put): walk every
    # change and compare with what a fresh Outbox counts from the files.
    box = fresh(max_messages=40, ram_max=2)
    for i in range(30):
        box.put(*msg(i), online=i % 3 != 0)
    eq(len(box), 30)
    got = drain(box, limit=11)
    eq(len(box), 19)
    for i in range(30, 60):  # over the limit: drop_oldest removes whole segments
        box.put(*msg(i), online=False)
    eq(len(box) <= 40, True)
    kept = len(box)
    box.inflight_reset()
    box.persist()
    eq(len(box), kept)
    again = Outbox(DIR, 40, "drop_oldest", 2)
    eq(len(again), kept)
    rest = drain(again)
    eq(len(rest), kept)
    eq(rest[-1], msg(59)[1])
    order = [int(p[6:-1]) for p in got + rest]
    eq(order, sorted(order))
    eq(len(again), 0)
    again.put(*msg(60), online=False)  # after a full drain the next put starts a segment
    eq(len(Outbox(DIR, 40, "drop_oldest", 2)), 1)


if __name__ == "__main__":
    table_main("cases_outbox", CASES, fresh)
