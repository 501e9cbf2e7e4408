"""The skeleton path on both runtimes: connect with an X.509 certificate, send telemetry; and a
device whose certificate the hub does not know is refused with a line that says so."""

import json

from .conftest import MAIN_HEADER
from .process_sockets import nodelay_by_peer_port

SEND_ONE = (
    MAIN_HEADER
    + """
agent.send({"temp": 21.5}, properties={"alert": "no"})
agent.run()
"""
)


def test_firmware_registered_x509_device_telemetry_recorded_by_hub(make_device, hub):
    device = make_device("dev-1")
    board = device.start(SEND_ONE)
    board.wait_for_line(r"^agent: connected to localhost:\d+ as dev-1 \(x509\)$", timeout=30)
    (record,) = hub.wait_for_telemetry(1, device_id="dev-1", timeout=30)
    assert json.loads(record.body) == {"temp": 21.5}
    assert record.properties["alert"] == "no"
    board.wait_for_line(r"^agent: sent 1 message\(s\)$", timeout=10)


def test_firmware_unregistered_certificate_refused_with_clear_cause(make_device, hub):
    device = make_device("dev-unknown", register=False)
    board = device.start(SEND_ONE)
    line = board.wait_for_line(r"^agent: error: ", timeout=30)
    assert "certificate" in line and "thumbprint" in line, line
    assert hub.refusals("dev-unknown"), hub.connection_log
    assert hub.telemetry("dev-unknown") == []


ONE_PASS_AT_A_TIME = (
    MAIN_HEADER
    + """
agent.send({"n": 1})
passes = 0
while not agent.stats["acked"] and passes < 3000:
    agent.run(for_ms=0)
    passes += 1
    time.sleep_ms(5)
print("test: acked %d sent %d connects %d" % (
    agent.stats["acked"], agent.stats["sent"], agent.stats["connects"]))
"""
)


def test_run_for_ms_0_is_one_pass_of_the_loop(make_device, hub):
    # docs/firmware.md: run(for_ms=0) does one pass (connect, publish, read what came)
    device = make_device("dev-1")
    board = device.start(ONE_PASS_AT_A_TIME)
    board.wait_for_line(r"^test: acked 1 sent 1 connects 1$", timeout=60)
    (record,) = hub.wait_for_telemetry(1, device_id="dev-1", timeout=10)
    assert json.loads(record.body) == {"n": 1}


def test_device_socket_has_nagle_off_whatever_the_broker_does(make_device, hub):
    # A broker that keeps Nagle on (mosquitto's default) held each window of 8 PUBLISHes behind
    # the device's delayed ACK: 17x slower. The board's own socket must have TCP_NODELAY set.
    device = make_device("dev-1")
    board = device.start()
    board.wait_for_line(r"^agent: connected to localhost:\d+ as dev-1 \(x509\)$", timeout=30)
    assert nodelay_by_peer_port(board.pid, hub.port) == [True]


def test_three_failed_connects_print_the_boards_own_checks_once(make_device, hub):
    # unregistered: every connect is refused; after the third the board says what it can check
    device = make_device("dev-lost", register=False, retry_auth_s=0.2, retry_max_s=0.4)
    board = device.start(SEND_ONE)
    board.wait_for_line(r"^agent: 3 connects failed in a row", timeout=60)
    board.wait_for_line(r"^agent: the host checks the rest: .*doctor", timeout=10)
    checks = [line for line in board.lines if line.startswith("agent: check ")]
    assert any(line.startswith("agent: check pass clock: year 20") for line in checks), checks
    assert any("cert_file certs/device.crt.der" in line for line in checks), checks
    assert any("trust_file: 1 root certificate(s)" in line for line in checks), checks
    assert any(line.startswith("agent: check pass DNS: localhost") for line in checks), checks
    # printed once per run of failures, not at every retry
    start = len(board.lines)
    for _ in range(2):
        board.wait_for_line(r"^agent: error: ", timeout=30, start=len(board.lines))
    assert not any("failed in a row" in line for line in board.lines[start:])


def test_x509_device_with_the_hubs_ip_as_hub_host_is_told_to_use_its_name(make_device, hub):
    # the TLS name check passes (the emulator's certificate covers 127.0.0.1) but the user name
    # must start with the hub's own name: the fix is hub_host, never sas_key for an X.509 device
    device = make_device("dev-ip", hub_host="127.0.0.1")
    board = device.start(SEND_ONE)
    line = board.wait_for_line(r"^agent: error: ", timeout=30)
    assert "hub_host must be the hub's own name" in line and "sas_key" not in line, line
