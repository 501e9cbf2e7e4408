"""Faults on the board's side: Wi-Fi dropped, the clock not set, power cut at random moments."""

import random
import re
import time

import pytest

from tests.agent.conftest import MAIN_HEADER

from .delivery import (
    WINDOW,
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
SETTLE_S = 0.5


# CPython only: the Unix port has no `network` module, so link.wifi_connect leaves the network
# to the OS (as on a PC) and there is no radio to drop; the board fakes' network reads
# BOARD_FAKE_WIFI_FILE on every call (host_tools/board_fakes/fake_network.py).
@pytest.mark.parametrize("runtime", ["cpython-emulated"], indirect=True)
def test_wifi_dropped_link_goes_silent_then_rejoins(make_device, hub, proxy, runtime, tmp_path):
    wifi = tmp_path / "wifi-state"
    wifi.write_text("up")
    device = make_device(
        hub_port=proxy.port, io_timeout_s=2, wifi_timeout_s=1, retry_min_s=0.3, retry_max_s=1.2
    )
    board = device.start(
        stream_main(60, period_ms=100, burst=2),
        env={"BOARD_FAKE_WIFI_FILE": wifi, "BOARD_FAKE_WIFI_DELAY_MS": 100},
    )
    hub.wait_for_telemetry(6, device_id=DEVICE, timeout=60)
    # The radio is gone: no Wi-Fi to rejoin, and what was on the air goes nowhere (TCP says
    # nothing, as with a real access point switched off).
    wifi.write_text("down")
    proxy.half_open()
    dropped_at = time.time()
    start = len(board.lines)
    board.wait_for_line(r"^agent: disconnected: no PUBACK", timeout=30, start=start)
    wait_until(
        lambda: board.count_lines(r"^agent: error: Wi-Fi 'emulated-lan' did not connect") >= 2,
        30,
        "two failed Wi-Fi joins",
    )
    assert proxy.attempt_times(since=dropped_at) == []  # no TCP without Wi-Fi
    wifi.write_text("up")
    fault_end = time.time()
    wait_for_messages(hub, DEVICE, range(60), timeout=90)
    board.wait_for_line(r"^test: all queued$", timeout=30)
    time.sleep(SETTLE_S)
    result = delivery_check(hub, DEVICE, range(60))
    errors = {line for line in board.agent_lines()[start:] if line.startswith("agent: error:")}
    assert errors == {
        "agent: error: Wi-Fi 'emulated-lan' did not connect within 1 s: check wifi_ssid, "
        "wifi_password and signal"
    }, errors
    report(
        "wifi-dropped",
        runtime,
        recovery=recovery_s(hub, DEVICE, fault_end),
        repeats=sorted(result.repeats),
        wifi_errors=board.count_lines(r"^agent: error: Wi-Fi"),
    )


# No shim or knob sets the clock on either runtime (the emulated board's ntptime succeeds and
# the host clock is right; the Unix port uses the OS clock), so the test stands in a clock stuck
# in 1971 until the file `clock-set` appears: what a board without a battery-backed RTC and no
# NTP answer sees. CPython lets main.py replace time.time; MicroPython's built-in modules are
# read-only but extensible, so there a time.py on flash wraps the built-in one.
_BOARD_TIME = """
def _board_time():
    try:
        os.stat("clock-set")
    except OSError:
        return 86400 * 365
    return _host_time()
"""
CLOCK_SHIM_CPYTHON = (
    "import os\nimport time\n\n_host_time = time.time\n"
    + _BOARD_TIME
    + ("\n\ntime.time = _board_time\n")
)
CLOCK_SHIM_MICROPYTHON = (
    """
import os
import sys

_path = sys.path
sys.path = []  # skip this file: import the built-in time
import time as _builtin

sys.path = _path
_host_time = _builtin.time
"""
    + _BOARD_TIME
    + """

time = _board_time


def __getattr__(name):
    return getattr(_builtin, name)
"""
)
CLOCK_NOT_SET_MAIN = (
    MAIN_HEADER
    + """
for i in range(3):
    agent.send({"n": i})
agent.run()
"""
)


def test_clock_not_set_is_one_line_and_backoff_then_connects(make_device, hub, proxy, runtime):
    min_ms, max_ms = 300, 1200
    device = make_device(hub_port=proxy.port, retry_min_s=min_ms / 1000, retry_max_s=max_ms / 1000)
    if runtime == "micropython-unix":
        device.files["time.py"] = CLOCK_SHIM_MICROPYTHON
        board = device.start(CLOCK_NOT_SET_MAIN)
    else:
        board = device.start(CLOCK_SHIM_CPYTHON + CLOCK_NOT_SET_MAIN)
    wait_until(lambda: len(reconnect_delays_ms(board)) >= 4, 60, "4 reconnect delays")
    errors = {line for line in board.agent_lines() if line.startswith("agent: error:")}
    assert len(errors) == 1, errors
    (error,) = errors
    assert error.startswith("agent: error: clock not set:"), error
    delays = reconnect_delays_ms(board)[:4]
    for attempt, delay in enumerate(delays):
        low, high = retry_window_ms(attempt, min_ms, max_ms)
        assert low <= delay <= high, (attempt, delays)
    assert proxy.attempts == []  # TLS would fail certificate dates: it never tries
    (device.flash / "clock-set").write_text("")
    fault_end = time.time()
    wait_for_messages(hub, DEVICE, range(3), timeout=60)
    time.sleep(SETTLE_S)
    delivery_check(hub, DEVICE, range(3))
    report(
        "clock-not-set",
        runtime,
        error=error,
        delays_ms=delays,
        recovery=recovery_s(hub, DEVICE, fault_end),
    )


# Queues {"r": round, "i": i} every 40 ms and says where each message went: sent while offline
# it is on flash before send() returns (the docs' promise); sent while connected it may be in
# RAM only, which a power cut may lose (at most the 8 RAM entries).
POWER_CUT_MAIN = (
    MAIN_HEADER
    + """
r = int(open("round.txt").read())
i = 0
while r >= 0:
    online = agent.connected
    agent.send({"r": r, "i": i})
    print("test: queued %d %d %s" % (r, i, "online" if online else "offline"))
    i += 1
    agent.run(for_ms=40)
agent.run()
"""
)
CUTS = 10


def test_power_cut_at_random_moments_loses_only_ram_messages(make_device, hub, proxy, runtime):
    rng = random.Random(20240601)
    device = make_device(hub_port=proxy.port, retry_min_s=0.2, retry_max_s=1, io_timeout_s=3)
    queued = []  # (key, online) in queue order
    lost_allowed = set()
    cuts = []
    device.write_flash(POWER_CUT_MAIN)  # once: the outbox on flash lives across the cuts
    for cut in range(CUTS):
        # odd rounds offline (every connection refused): the queue grows on flash
        offline = cut % 2 == 1
        proxy.refuse("accept-close" if offline else None)
        (device.flash / "round.txt").write_text(str(cut))
        board = device.start()
        board.wait_for_line(r"^test: queued ", timeout=60)
        if not offline and cut == 0:
            board.wait_for_line(r"^agent: connected", timeout=60)
        time.sleep(rng.uniform(0.05, 1.5))
        board.kill()  # SIGKILL: the power cut
        round_keys = []
        for line in board.lines:
            m = re.match(r"^test: queued (\d+) (\d+) (online|offline)$", line)
            if m:
                key = (int(m[1]), int(m[2]))
                round_keys.append(key)
                queued.append(key)
                if m[3] == "online":
                    lost_allowed.add(key)
        cuts.append((cut, "offline" if offline else "online", len(round_keys)))
    proxy.refuse(None)
    (device.flash / "round.txt").write_text("-1")
    drain_from = time.time()
    board = device.start()
    promised = [k for k in queued if k not in lost_allowed]
    wait_for_messages(hub, DEVICE, promised, timeout=120, key=lambda b: (b["r"], b["i"]))
    board.wait_for_line(r"^agent: sent \d+ message\(s\)$", timeout=60)
    time.sleep(SETTLE_S)
    # After a reboot a message read back from flash may arrive twice (the agent cannot know
    # whether the hub had it), without DUP but with its first $.mid: dup_flag=False.
    result = delivery_check(
        hub,
        DEVICE,
        queued,
        key=lambda b: (b["r"], b["i"]),
        may_lose=lost_allowed,
        dup_flag=False,
    )
    lost = [k for k in queued if k not in result.first]
    by_round = {}
    for r, i in lost:
        by_round.setdefault(r, []).append(i)
    for r, items in by_round.items():
        assert len(items) <= WINDOW, f"round {r}: {len(items)} lost, RAM holds at most {WINDOW}"
    for cut, mode, count in cuts:
        print(f"  cut {cut} ({mode}): {count} queued, lost {by_round.get(cut, [])}")
    report(
        "power-cut",
        runtime,
        cuts=CUTS,
        queued=len(queued),
        promised=len(promised),
        lost=len(lost),
        why_lost="queued while connected, only in RAM at the cut (docs: at most 8)",
        repeats=len(result.repeats),
        drain=recovery_s(hub, DEVICE, drain_from),
    )
