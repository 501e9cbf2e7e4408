"""Faults on the link between device and hub, on both runtimes: a connection cut in the middle
of a PUBLISH, a half-open link (while sending, and idle), the hub restarted, connections refused,
a hub name that does not resolve. Each prints its recovery time (`pytest -s` or `-rA`)."""

import json
import time

from tests.agent.conftest import MAIN_HEADER

from .delivery import (
    delivery_check,
    reconnect_delays_ms,
    recovery_s,
    report,
    retry_window_ms,
    stream_main,
    wait_for_messages,
    wait_until,
)

DEVICE = "dev-1"
SETTLE_S = 0.5  # after the last first copy: room for a stray repeat to show up


def test_cut_mid_publish_resends_in_flight_on_the_next_connection(make_device, hub, proxy, runtime):
    device = make_device(hub_port=proxy.port, io_timeout_s=3)
    board = device.start(stream_main(80, period_ms=100, burst=4))
    hub.wait_for_telemetry(8, device_id=DEVICE, timeout=60)
    (link,) = proxy.open_links()
    # PUBACKs held back 0.4 s: the messages just before the cut reached the hub unacked.
    proxy.set_latency(down_s=0.4)
    time.sleep(0.2)
    before = link.up.forwarded
    # A telemetry PUBLISH is one TLS record of ~150 bytes: 400 bytes on, the cut is inside one.
    proxy.cut_after(400)
    wait_until(lambda: link.dead, 30, "cut")
    fault_end = link.closed_at
    board.wait_for_line(r"^agent: disconnected", timeout=30)
    wait_for_messages(hub, DEVICE, range(80), timeout=90)
    board.wait_for_line(r"^test: all queued$", timeout=30)
    time.sleep(SETTLE_S)
    result = delivery_check(hub, DEVICE, range(80))
    assert result.connections >= 2
    assert result.repeats, "nothing was in flight at the cut: the test did not test resending"
    report(
        "cut-mid-publish",
        runtime,
        recovery=recovery_s(hub, DEVICE, fault_end),
        cut_at_byte=link.up.forwarded - before,
        repeats=sorted(result.repeats),
        connections=result.connections,
    )


def test_half_open_while_sending_detected_by_missing_puback(make_device, hub, proxy, runtime):
    device = make_device(hub_port=proxy.port, io_timeout_s=2)
    board = device.start(stream_main(60, period_ms=100, burst=2))
    hub.wait_for_telemetry(6, device_id=DEVICE, timeout=60)
    (link,) = proxy.open_links()
    proxy.half_open()
    fault_start = time.time()
    line = board.wait_for_line(r"^agent: disconnected", timeout=30)
    assert "PUBACK" in line, line
    wait_until(lambda: len(proxy.links) >= 2, 30, "new connection")
    detected = proxy.links[1].opened_at - fault_start
    wait_for_messages(hub, DEVICE, range(60), timeout=90)
    board.wait_for_line(r"^test: all queued$", timeout=30)
    time.sleep(SETTLE_S)
    result = delivery_check(hub, DEVICE, range(60))
    assert link.open, "the half-open link passed something on: it must stay silent"
    # io_timeout_s 2: the missing PUBACK is noticed within about 2 s (plus a loop pass)
    assert detected < 2 + 3, detected
    report(
        "half-open-sending",
        runtime,
        reconnect_after=detected,
        recovery=recovery_s(hub, DEVICE, fault_start),
        repeats=sorted(result.repeats),
    )


HALF_OPEN_IDLE = (
    MAIN_HEADER
    + """
agent.send({"n": 0})
agent.run(until=lambda: agent.stats["reconnects"] >= 1)
for i in range(1, 4):
    agent.send({"n": i})
agent.run()
"""
)


def test_half_open_idle_detected_by_missing_pingresp(make_device, hub, proxy, runtime):
    # keepalive 5 s: PINGREQ after 3.75 s quiet; io_timeout 2 s for the PINGRESP.
    device = make_device(hub_port=proxy.port, io_timeout_s=2, keepalive_s=5)
    board = device.start(HALF_OPEN_IDLE)
    hub.wait_for_telemetry(1, device_id=DEVICE, timeout=60)
    board.wait_for_line(r"^agent: sent 1 message\(s\)$", timeout=30)  # its PUBACK is in: idle
    proxy.half_open()
    fault_start = time.time()
    line = board.wait_for_line(r"^agent: disconnected", timeout=30)
    assert "PINGRESP" in line, line
    wait_until(lambda: len(proxy.links) >= 2, 30, "new connection")
    detected = proxy.links[1].opened_at - fault_start
    wait_for_messages(hub, DEVICE, range(4), timeout=60)
    time.sleep(SETTLE_S)
    delivery_check(hub, DEVICE, range(4))
    assert detected < 3.75 + 2 + 3, detected
    report(
        "half-open-idle",
        runtime,
        reconnect_after=detected,
        recovery=recovery_s(hub, DEVICE, fault_start),
    )


def test_hub_restart_mid_stream_resumes_in_order(make_device, hub, runtime):
    device = make_device(retry_min_s=0.3, retry_max_s=1.2)
    board = device.start(stream_main(80, period_ms=60, burst=2))
    hub.wait_for_telemetry(10, device_id=DEVICE, timeout=60)
    start = len(board.lines)  # before the stop: the board may say "disconnected" at once
    hub.stop()
    board.wait_for_line(r"^agent: disconnected", timeout=30, start=start)
    board.wait_for_line(r"^agent: error:", timeout=30, start=start)  # a reconnect was refused
    hub.start()
    fault_end = time.time()
    wait_for_messages(hub, DEVICE, range(80), timeout=90)
    board.wait_for_line(r"^test: all queued$", timeout=30)
    time.sleep(SETTLE_S)
    result = delivery_check(hub, DEVICE, range(80))
    report(
        "hub-restart",
        runtime,
        recovery=recovery_s(hub, DEVICE, fault_end),
        repeats=sorted(result.repeats),
    )


QUEUE_5 = (
    MAIN_HEADER
    + """
for i in range(5):
    agent.send({"n": i})
print("test: queued")
agent.run()
"""
)


def test_connections_refused_back_off_without_a_tight_loop(make_device, hub, proxy, runtime):
    min_ms, max_ms = 500, 2000
    device = make_device(hub_port=proxy.port, retry_min_s=min_ms / 1000, retry_max_s=max_ms / 1000)
    proxy.refuse("accept-close")
    board = device.start(QUEUE_5)
    wait_until(lambda: len(proxy.attempts) >= 5, 60, "5 connection attempts")
    proxy.refuse(None)
    fault_end = time.time()
    wait_for_messages(hub, DEVICE, range(5), timeout=60)
    refused = [a.time for a in proxy.attempts if a.outcome == "refused"]
    gaps_ms = [1000 * (b - a) for a, b in zip(refused, refused[1:], strict=False)]
    delays = reconnect_delays_ms(board)
    for attempt, gap in enumerate(gaps_ms):
        low, high = retry_window_ms(attempt, min_ms, max_ms)
        assert low <= delays[attempt] <= high, (attempt, delays)
        # the attempt comes after the printed delay (less 30 ms of clock skew), and not much
        # later (3 s of slack for a loaded machine)
        assert delays[attempt] - 30 <= gap <= delays[attempt] + 3000, (attempt, gaps_ms, delays)
    errors = {line for line in board.agent_lines() if line.startswith("agent: error:")}
    assert len(errors) == 1, errors  # one cause, one line (repeated per attempt)
    time.sleep(SETTLE_S)
    delivery_check(hub, DEVICE, range(5))
    report(
        "refused",
        runtime,
        attempts=len(refused),
        gaps_ms=[round(g) for g in gaps_ms],
        error=next(iter(errors)),
        recovery=recovery_s(hub, DEVICE, fault_end),
    )


def test_dns_failure_one_line_backoff_then_fixed_config_delivers(make_device, hub, runtime):
    min_ms, max_ms = 300, 1200
    device = make_device(
        hub_host="nonexistent.invalid", retry_min_s=min_ms / 1000, retry_max_s=max_ms / 1000
    )
    board = device.start(QUEUE_5)
    wait_until(lambda: len(reconnect_delays_ms(board)) >= 4, 60, "4 reconnect delays")
    errors = [line for line in board.agent_lines() if line.startswith("agent: error:")]
    assert set(errors) == {
        "agent: error: cannot resolve nonexistent.invalid: check hub_host and DNS"
    }, errors
    delays = reconnect_delays_ms(board)
    for attempt, delay in enumerate(delays[:4]):
        low, high = retry_window_ms(attempt, min_ms, max_ms)
        assert low <= delay <= high, (attempt, delays)
    assert hub.connection_log == []
    # The fix: a human corrects hub_host and the board restarts; the queue was on flash.
    board.kill()
    config = dict(device.files["config.json"], hub_host="localhost")
    device.files["config.json"] = config
    (device.flash / "config.json").write_text(json.dumps(config))
    fault_end = time.time()
    board = device.start(MAIN_HEADER + "agent.run()\n")
    board.wait_for_line(r"^agent: outbox holds 5 message\(s\) from before$", timeout=30)
    wait_for_messages(hub, DEVICE, range(5), timeout=60)
    time.sleep(SETTLE_S)
    delivery_check(hub, DEVICE, range(5))
    report(
        "dns",
        runtime,
        delays_ms=delays[:4],
        error=errors[0],
        recovery_after_fix=recovery_s(hub, DEVICE, fault_end),
    )
