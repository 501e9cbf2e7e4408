"""A reconnect storm: a fleet loses the hub at once; when it returns, jitter spreads the fleet.

The MicroPython Unix port only (the real firmware on mbedTLS, ~2 MB of RAM a board): a hundred
CPython emulated boards would measure the host's CPU rather than the agent's backoff, which is
the same code on both runtimes (firmware/retry.py, tested under CPython in tests/firmware).
"""

import json
import shutil
import time

import pytest

from host_tools.board_flash import assemble_flash
from host_tools.certs import create_device_cert
from host_tools.unix_port import run_unix_port
from tests.agent.conftest import MAIN_HEADER

from .delivery import accepted_times, wait_until

DEVICES = 100
RETRY_MIN_S, RETRY_MAX_S = 1, 8
DOWN_S = 12  # long enough for a few refused attempts each, so the backoff has grown
BIN_S = 0.5


def _histogram(offsets, bin_s, width=50):
    """Text bars, one per `bin_s` from 0: how many offsets fall in each."""
    counts = [0] * (int(max(offsets) / bin_s) + 1)
    for offset in offsets:
        counts[int(offset / bin_s)] += 1
    peak = max(counts)
    lines = []
    for i, n in enumerate(counts):
        bar = "#" * max(1, n * width // peak) if n else ""
        lines.append(f"  {i * bin_s:5.1f}-{(i + 1) * bin_s:<5.1f}s {n:3d} {bar}")
    return counts, "\n".join(lines)


def _flash_for(template, tmp_path, hub, proxy_port, device_id):
    identity = create_device_cert(device_id, tmp_path / "ids" / device_id, self_signed=True)
    hub.register_x509(device_id, identity.sha256)
    flash = tmp_path / "flash" / device_id
    shutil.copytree(template, flash)
    (flash / "certs").mkdir()
    shutil.copy(hub.ca_file, flash / "certs/trust.pem")
    shutil.copy(identity.cert_der, flash / "certs/device.crt.der")
    shutil.copy(identity.key_der, flash / "certs/device.key.der")
    config = {
        "hub_host": "localhost",
        "hub_port": proxy_port,
        "device_id": device_id,
        "trust_file": "certs/trust.pem",
        "cert_file": "certs/device.crt.der",
        "key_file": "certs/device.key.der",
        "telemetry_interval_s": 3600,
        "keepalive_s": 60,
        "retry_min_s": RETRY_MIN_S,
        "retry_max_s": RETRY_MAX_S,
        "watchdog_s": 0,
        "wifi_ssid": "emulated-lan",
        "wifi_password": "secret",
    }
    (flash / "config.json").write_text(json.dumps(config))
    return flash


@pytest.mark.micropython
@pytest.mark.parametrize("runtime", ["micropython-unix"], indirect=True)
def test_reconnect_storm_is_spread_by_jitter(hub, proxy, runtime, tmp_path):
    template = tmp_path / "template"
    assemble_flash(template, mpy=True, main_py=MAIN_HEADER + "agent.run()\n")
    ids = [f"storm-{n:03d}" for n in range(DEVICES)]
    flashes = [_flash_for(template, tmp_path, hub, proxy.port, d) for d in ids]
    boards = [run_unix_port(flash) for flash in flashes]
    try:
        wait_until(
            lambda: all(accepted_times(hub, d) for d in ids), 120, f"{DEVICES} devices connected"
        )
        down_at = time.time()
        proxy.refuse("accept-close")  # the hub is gone: every connection is reset at once
        proxy.cut_all()
        time.sleep(DOWN_S)
        proxy.refuse(None)
        back_at = time.time()

        def reconnected():
            firsts = []
            for d in ids:
                after = [t for t in accepted_times(hub, d) if t >= back_at]
                if not after:
                    return None
                firsts.append(after[0] - back_at)
            return firsts

        firsts = sorted(wait_until(reconnected, 60, f"{DEVICES} devices reconnected"))
        refused = [a.time - down_at for a in proxy.attempts if down_at <= a.time < back_at]
    finally:
        for board in boards:
            board.kill()

    counts, bars = _histogram(firsts, BIN_S)
    _, down_bars = _histogram(refused, BIN_S * 2)
    spread = firsts[int(0.9 * DEVICES)] - firsts[int(0.1 * DEVICES)]
    print(f"\nstorm: {DEVICES} devices, hub down {DOWN_S} s, retry {RETRY_MIN_S}-{RETRY_MAX_S} s")
    print(f"refused attempts while down: {len(refused)}\n{down_bars}")
    print(f"first reconnect after the hub returned (p10-p90 spread {spread:.1f} s):\n{bars}")
    # Backoff while the hub is down: a device tries about log2(down/min) + 1 times, not in a loop.
    assert len(refused) <= DEVICES * 6, len(refused)
    # Spread: jitter keeps the fleet from arriving in one burst. Without it every device lands
    # in one bin; with +25% jitter (this firmware until 2026-12) the peak bin held 24-27 and
    # p10-p90 was 2 s; the doubling-wide window [d, 2d) gives ~12 and ~5 s.
    assert max(counts) <= DEVICES // 5, counts
    assert spread >= 3.0, firsts
    # Every device is back within one capped delay (plus a loaded machine's slack).
    assert firsts[-1] <= 2 * RETRY_MAX_S + 5, firsts[-1]
