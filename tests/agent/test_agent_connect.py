"""The skeleton path on both runtimes: connect with an X.509 certificate, send telemetry; and a
device whose certificate the hub does not know is refused with a line that says so."""

import json

from .conftest import MAIN_HEADER

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
