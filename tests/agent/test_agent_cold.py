"""Cold loading against the hub on both runtimes: a C2D message queued while the device was off
arrives right after CONNACK, before the SUBACK, so incoming.py runs inside connect.py's cold call.
The inner call must leave the outer one's modules loaded, and once the connect is over none of
the per-call modules may be left behind."""

from .conftest import MAIN_HEADER

FIRST_BOOT = (
    MAIN_HEADER
    + """
agent.run(until=lambda: agent.twin is not None)
agent.stop()
print("test: first boot done")
"""
)

# Modules loaded for one call only (firmware/cold.py); none may stay once the call is over.
PER_CALL = ("connect", "link", "mqtt_connect", "incoming", "c2d", "methods", "twin", "retry", "sas")

SECOND_BOOT = (
    MAIN_HEADER
    + """
import sys

PER_CALL = """
    + repr(PER_CALL)
    + """

def on_c2d(body, properties):
    # inside incoming.py's call, nested in connect.py's: both are loaded now
    print("test: c2d", body.decode(), "loaded", " ".join(m for m in PER_CALL if m in sys.modules))

agent.on_method("echo", lambda payload: {"echo": payload})
agent.on_c2d(on_c2d)
agent.run(until=lambda: agent.twin is not None and agent.stats["c2d"] >= 2)
print("test: left", " ".join(m for m in PER_CALL if m in sys.modules) or "none")
agent.run()
"""
)


def test_c2d_before_suback_nested_cold_calls_unload_only_their_own(make_device, hub):
    device = make_device()
    board = device.start(FIRST_BOOT)
    board.wait_for_line(r"^test: first boot done$", timeout=30)
    board.kill()
    # queued while the device is offline (its subscriptions are kept): both come before SUBACK
    hub.c2d("dev-1", "early-1")
    hub.c2d("dev-1", "early-2")
    board = device.start(SECOND_BOOT)
    connected = board.wait_for_line(r"^agent: connected to ", timeout=30)
    for body in ("early-1", "early-2"):
        line = board.wait_for_line(rf"^test: c2d {body} loaded ", timeout=30)
        assert board.lines.index(line) < board.lines.index(connected), board.output
        # connect.py and its mqtt_connect.py are still loaded while incoming.py and c2d.py run,
        # also for the second message, after the first one's nested call has unloaded its own
        loaded = line.split("loaded ")[1].split()
        assert {"connect", "mqtt_connect", "incoming", "c2d"} <= set(loaded), line
    assert board.wait_for_line(r"^test: left ", timeout=30) == "test: left none", board.output
    # the connect went on after the nested call: subscriptions, twin, methods all work
    hub.wait_for_connection("dev-1", timeout=10, topic_filter="$iothub/methods/POST/#")
    assert hub.invoke("dev-1", "echo", 7, timeout=15) == (200, {"echo": 7})
    assert "Traceback" not in board.output
