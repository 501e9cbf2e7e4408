"""Delivery and credentials under faults, on both runtimes: the hub killed mid-stream, a reboot
with messages queued, SAS tokens that expire, a config that names two credentials."""

import collections
import json
import time

from .conftest import MAIN_HEADER

STREAM_200 = (
    MAIN_HEADER
    + """
for i in range(200):
    agent.send({"n": i})
    agent.run(for_ms=15)
print("test: all queued")
agent.run()
"""
)


def _wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.02)


def test_hub_restart_during_200_qos1_messages_all_arrive(make_device, hub):
    device = make_device()
    board = device.start(STREAM_200)
    hub.wait_for_telemetry(20, device_id="dev-1", timeout=30)
    hub.stop()
    board.wait_for_line(r"^agent: disconnected", timeout=30)
    hub.start()
    records = hub.wait_for_telemetry(200, device_id="dev-1", timeout=90)
    board.wait_for_line(r"^test: all queued$", timeout=30)
    mids = collections.defaultdict(set)
    for record in hub.telemetry("dev-1"):
        mids[json.loads(record.body)["n"]].add(record.properties.get("$.mid"))
    assert sorted(mids) == list(range(200)), f"{len(records)} records"
    # a repeat is allowed only as the same message: one $.mid per message
    assert all(len(m) == 1 and None not in m for m in mids.values()), mids
    assert len({m for ms in mids.values() for m in ms}) == 200


QUEUE_5_OFFLINE = (
    MAIN_HEADER
    + """
for i in range(5):
    agent.send({"n": i})
print("test: queued")
agent.run()
"""
)


def test_outbox_with_queued_messages_survives_reboot(make_device, hub):
    device = make_device()
    hub.stop()
    board = device.start(QUEUE_5_OFFLINE)
    board.wait_for_line(r"^test: queued$", timeout=30)
    board.wait_for_line(r"^agent: (error|reconnecting)", timeout=30)
    board.kill()  # power cut: no clean shutdown
    assert hub.telemetry("dev-1") == []
    hub.start()
    board = device.start(MAIN_HEADER + "agent.run()\n")
    board.wait_for_line(r"^agent: outbox holds 5 message\(s\) from before$", timeout=30)
    records = hub.wait_for_telemetry(5, device_id="dev-1", timeout=30)
    assert sorted(json.loads(r.body)["n"] for r in records) == [0, 1, 2, 3, 4]


def test_sas_device_connects_and_sends(make_device, hub):
    device = make_device("sas-1", auth="sas")
    board = device.start(MAIN_HEADER + "agent.send({'via': 'sas'})\nagent.run()\n")
    board.wait_for_line(r"^agent: connected to localhost:\d+ as sas-1 \(sas\)$", timeout=30)
    (record,) = hub.wait_for_telemetry(1, device_id="sas-1", timeout=30)
    assert json.loads(record.body) == {"via": "sas"}


def test_sas_short_token_lifetime_renews_and_reconnects(make_device, hub):
    # sas_ttl_s 60 (the smallest): the agent renews 30 s before expiry, i.e. after 30 s.
    device = make_device("sas-2", auth="sas", sas_ttl_s=60)
    board = device.start(
        MAIN_HEADER
        + "agent.send({'before': 1})\nagent.run(for_ms=36000)\n"
        + "agent.send({'after': 1})\nagent.run()\n"
    )
    board.wait_for_line(r"^agent: connected to .* as sas-2 \(sas\)$", timeout=30)
    board.wait_for_line(r"^agent: renewing the SAS token$", timeout=45)
    _wait_until(
        lambda: board.count_lines(r"^agent: connected to .* as sas-2") >= 2, 20, "reconnect"
    )
    records = hub.wait_for_telemetry(2, device_id="sas-2", timeout=30)
    assert [json.loads(r.body) for r in records] == [{"before": 1}, {"after": 1}]
    accepted = [e for e in hub.connection_log if e.event == "accepted" and e.device_id == "sas-2"]
    assert len(accepted) >= 2
    assert hub.refusals("sas-2") == []


def test_config_with_certificate_and_sas_key_refused_with_one_line(make_device, hub):
    device = make_device("both-1", auth="both", register=False)
    board = device.start(MAIN_HEADER + "agent.run(for_ms=1500)\nprint('test: done')\n")
    board.wait_for_line(r"^test: done$", timeout=30)
    errors = [line for line in board.agent_lines() if line.startswith("agent: error:")]
    assert errors[0] == (
        "agent: error: config.json: use either cert_file + key_file (X.509) or sas_key, not both"
    )
    assert len(set(errors)) == 1
    assert [e for e in hub.connection_log if e.device_id == "both-1"] == []
