"""What the hub received from one device, checked against what the docs promise.

docs/firmware.md: delivery is at-least-once; every message carries `$.mid` (the same when
resent); a message is sent again only after the connection it went out on is gone, with the MQTT
DUP flag; the queue keeps order. `delivery_check` asserts all of that from the hub's side:

- every expected message arrived (except those in `may_lose`);
- each message has one `$.mid`, and no two messages share one;
- a repeat came on a later connection than the copy before it (never twice on one connection),
  with DUP set (`dup_flag`), and no more repeats from one connection than the in-flight window;
- first arrivals are in the order the device queued them.

Connections are told apart by the hub's own "accepted" log entries for the device: a record
belongs to the last connection accepted before it was received.
"""

import bisect
import json
import re
from dataclasses import dataclass, field

from tests.agent.conftest import MAIN_HEADER

WINDOW = 8  # QoS 1 publishes in flight at once (firmware/agent.py _WINDOW)


def stream_main(count, period_ms=50, burst=1, tail="agent.run()\n"):
    """main.py: `burst` messages {"n": i} at a time, `agent.run(for_ms=period_ms)` between (the
    documented `send(); run(for_ms=...)` pattern); `test: all queued` once all are queued."""
    return MAIN_HEADER + (
        f"for i in range({count}):\n"
        '    agent.send({"n": i})\n'
        f"    if i % {burst} == {burst - 1}:\n"
        f"        agent.run(for_ms={period_ms})\n"
        'print("test: all queued")\n' + tail
    )


@dataclass
class Delivery:
    records: list
    first: dict = field(default_factory=dict)  # key -> first record
    repeats: dict = field(default_factory=dict)  # key -> [later records]
    connections: int = 0

    def summary(self) -> str:
        keys = sorted(self.repeats, key=lambda k: self.first[k].index)
        return (
            f"{len(self.records)} records, {len(self.first)} messages, "
            f"{sum(len(v) for v in self.repeats.values())} repeat(s) {keys}, "
            f"{self.connections} connection(s)"
        )


def accepted_times(hub, device_id) -> list:
    return [
        e.time for e in hub.connection_log if e.event == "accepted" and e.device_id == device_id
    ]


def delivery_check(
    hub,
    device_id,
    expected,
    *,
    key=lambda body: body["n"],
    may_lose=(),
    dup_flag=True,
    cross_connection=True,
) -> Delivery:
    """Assert the promises above for `expected` (keys in queue order); returns the Delivery."""
    records = hub.telemetry(device_id)
    starts = accepted_times(hub, device_id)
    result = Delivery(records, connections=len(starts))
    problems = []
    mids = {}
    last_connection = {}
    repeats_from = {}  # connection -> how many of its messages came again later
    for record in records:
        k = key(json.loads(record.body))
        mid = record.properties.get("$.mid")
        connection = bisect.bisect_right(starts, record.received_at) - 1
        if k not in result.first:
            result.first[k] = record
            mids[k] = mid
        else:
            result.repeats.setdefault(k, []).append(record)
            before = last_connection[k]
            if mid != mids[k]:
                problems.append(f"{k}: repeated with $.mid {mid}, first copy had {mids[k]}")
            if cross_connection and connection <= before:
                problems.append(
                    f"{k} (mid {mid}): sent again on connection #{connection}, the one its "
                    f"previous copy came on (#{before}): a duplicate on a live connection"
                )
            if dup_flag and not getattr(record, "dup", False):
                problems.append(f"{k} (mid {mid}): a repeat without the MQTT DUP flag")
            repeats_from[before] = repeats_from.get(before, 0) + 1
        last_connection[k] = connection
    if None in mids.values():
        problems.append("messages without $.mid: " + str([k for k, m in mids.items() if not m]))
    by_mid = {}
    for k, mid in mids.items():
        by_mid.setdefault(mid, []).append(k)
    shared = {mid: ks for mid, ks in by_mid.items() if len(ks) > 1}
    if shared:
        problems.append(f"one $.mid for several messages: {shared}")
    expected = list(expected)
    missing = [k for k in expected if k not in result.first and k not in may_lose]
    if missing:
        problems.append(f"missing {len(missing)} message(s): {missing}")
    unexpected = [k for k in result.first if k not in set(expected)]
    if unexpected:
        problems.append(f"messages nobody sent: {unexpected}")
    for connection, n in repeats_from.items():
        if n > WINDOW:
            problems.append(
                f"{n} messages of connection #{connection} came again: more than the "
                f"{WINDOW} a connection can have in flight"
            )
    position = {k: i for i, k in enumerate(expected)}
    arrived = sorted((r.index, k) for k, r in result.first.items() if k in position)
    order = [position[k] for _, k in arrived]
    if order != sorted(order):
        wrong = [
            (arrived[i - 1][1], arrived[i][1])
            for i in range(1, len(order))
            if order[i] < order[i - 1]
        ]
        problems.append(f"first arrivals out of order (pairs): {wrong[:10]}")
    assert not problems, "\n".join(problems) + "\n" + result.summary()
    return result


def recovery_s(hub, device_id, fault_end) -> float:
    """Seconds from `fault_end` (time.time()) to the first message the hub received on a
    connection accepted after it (bytes still in flight on the old one do not count)."""
    reconnects = [t for t in accepted_times(hub, device_id) if t >= fault_end]
    assert reconnects, "no connection after the fault ended"
    after = [r.received_at for r in hub.telemetry(device_id) if r.received_at >= reconnects[0]]
    assert after, "nothing arrived after the fault ended"
    return min(after) - fault_end


def report(name, runtime, **figures):
    """One line `pytest -s` / `-rA` shows: `fault <name> [<runtime>]: key=value ...`."""
    text = " ".join(
        f"{k}={v:.2f}s" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )
    print(f"fault {name} [{runtime}]: {text}", flush=True)


def wait_for_messages(hub, device_id, keys, timeout, key=lambda body: body["n"]) -> list:
    """Block until the hub holds at least one copy of every key in `keys`; the records."""
    import time

    wanted = set(keys)
    deadline = time.monotonic() + timeout
    while True:
        records = hub.telemetry(device_id)
        seen = {key(json.loads(r.body)) for r in records}
        if wanted <= seen:
            return records
        if time.monotonic() > deadline:
            missing = sorted(wanted - seen)
            raise AssertionError(
                f"{len(missing)} of {len(wanted)} messages missing after {timeout} s: "
                f"{missing[:20]}; connection log: {hub.connection_log[-5:]}"
            )
        time.sleep(0.02)


def wait_until(predicate, timeout, what):
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


RETRY_UNITS_MS = {"s": 1000, "min": 60_000, "h": 3_600_000}


def reconnect_delays_ms(board, start=0) -> list:
    """The delays the board announced ("agent: retrying in 5.9 s", "... in 18 min (reset to retry
    now)"), from line `start` on, in ms. The board rounds down (to 0.1 s under 10 s), so each is
    at most the real delay and less than 100 ms (short delays) under it."""
    text = "\n".join(board.lines[start:])
    return [
        round(float(number) * RETRY_UNITS_MS[unit])
        for number, unit in re.findall(r"agent: retrying in ([\d.]+) (s|min|h)\b", text)
    ]


def retry_window_ms(attempt, min_ms, max_ms):
    """firmware/retry.py's promise for attempt n: [d, 2d) with d = min * 2**n, [max/2, max)
    once 2d passes the cap, never under the minimum."""
    high = min(min_ms * 2 ** (attempt + 1), max_ms)
    return max(high / 2, min(min_ms, high)), high
