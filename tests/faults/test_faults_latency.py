"""A slow link and a slow hub, on both runtimes: every message exactly once, on ONE connection.

The high-latency case is the duplicate-storm regression: `run(for_ms=...)` returning with
messages in flight must not send them again on the same connection (it did: each return put the
in-flight messages back in the queue, and the next `run()` published them again)."""

import json
import re

from tests.agent.conftest import MAIN_HEADER

from .delivery import delivery_check, report, wait_for_messages

DEVICE = "dev-1"

# 10 queued before the first connect (on flash), 10 more with send(); run(for_ms=300) once
# connected: the documented pattern, each run() returning with PUBACKs still on the way.
TWENTY_ON_ONE_CONNECTION = (
    MAIN_HEADER
    + """
import json
for i in range(10):
    agent.send({"n": i})
agent.run(until=lambda: agent.connected)
for i in range(10, 20):
    agent.send({"n": i})
    agent.run(for_ms=300)
print("test: all queued")
agent.run(until=lambda: agent.stats["acked"] >= 20 and not len(agent.outbox))
print("test: stats " + json.dumps(agent.stats))
agent.run()
"""
)


def _one_connection_exactly_twenty(hub, board, proxy, name, runtime):
    records = wait_for_messages(hub, DEVICE, range(20), timeout=120)
    line = board.wait_for_line(r"^test: stats ", timeout=60)
    stats = json.loads(line.split(" ", 2)[2])
    result = delivery_check(hub, DEVICE, range(20))
    records = hub.telemetry(DEVICE)
    assert len(records) == 20, result.summary()
    assert result.repeats == {}, result.summary()
    assert stats["reconnects"] == 0 and stats["connects"] == 1, stats
    assert stats["sent"] == 20, stats  # a PUBLISH written twice on one connection is the storm
    assert len(proxy.links) == 1, proxy.links
    assert not re.search(r"^agent: disconnected", board.output, re.M)
    first = min(r.received_at for r in records)
    report(
        name,
        runtime,
        connect_to_first=first - proxy.links[0].opened_at,
        first_to_last=max(r.received_at for r in records) - first,
        stats=f"sent={stats['sent']},acked={stats['acked']},reconnects={stats['reconnects']}",
    )


def test_high_latency_20_messages_once_each_on_one_connection(make_device, hub, proxy, runtime):
    proxy.set_latency(up_s=1.2, down_s=1.2)
    device = make_device(hub_port=proxy.port)
    board = device.start(TWENTY_ON_ONE_CONNECTION)
    _one_connection_exactly_twenty(hub, board, proxy, "latency-1.2s", runtime)


def test_slow_hub_late_pubacks_no_resend_no_reconnect(make_device, hub, proxy, runtime):
    # Only hub -> device is slow: every PUBACK (and CONNACK, SUBACK) comes 1.5 s late.
    proxy.set_latency(down_s=1.5)
    device = make_device(hub_port=proxy.port)
    board = device.start(TWENTY_ON_ONE_CONNECTION)
    _one_connection_exactly_twenty(hub, board, proxy, "slow-hub-1.5s", runtime)
