"""The agent's user API against the hub on both runtimes: twin, desired patches, direct methods,
cloud-to-device messages (a malformed property bag too)."""

import json
import time

import pytest

from host_tools.hub import server as hub_server

from .conftest import MAIN_HEADER

HANDLERS = (
    MAIN_HEADER
    + """
import json

def boom(payload):
    raise RuntimeError("handler failed on purpose")

def echo(payload):
    return {"echo": payload}

def teapot(payload):
    return 418, {"short": "stout"}

def on_c2d(body, properties):
    print("test: c2d", body.decode(), json.dumps(properties))

def on_desired(patch, version):
    print("test: desired", json.dumps(patch), version)

agent.on_method("boom", boom)
agent.on_method("echo", echo)
agent.on_method("teapot", teapot)
agent.on_c2d(on_c2d)
agent.on_desired(on_desired)
agent.report({"fw": "1.0", "boots": 1})
agent.run()
"""
)

METHODS_TOPIC = "$iothub/methods/POST/#"
C2D_TOPIC = "devices/dev-1/messages/devicebound/#"


def test_method_handler_raises_hub_gets_500(make_device, hub):
    device = make_device()
    device.start(HANDLERS)
    hub.wait_for_connection("dev-1", timeout=30, topic_filter=METHODS_TOPIC)
    status, _ = hub.invoke("dev-1", "boom", {"x": 1}, timeout=15)
    assert status == 500
    assert hub.invoke("dev-1", "echo", {"x": 1}, timeout=15) == (200, {"echo": {"x": 1}})
    assert hub.invoke("dev-1", "teapot", None, timeout=15) == (418, {"short": "stout"})
    device.board.wait_for_line(r"^agent: method boom -> 500$", timeout=10)


def test_method_unknown_name_hub_gets_404(make_device, hub):
    device = make_device()
    device.start(HANDLERS)
    hub.wait_for_connection("dev-1", timeout=30, topic_filter=METHODS_TOPIC)
    status, _ = hub.invoke("dev-1", "no_such_method", {}, timeout=15)
    assert status == 404
    # the agent is still serving afterwards
    assert hub.invoke("dev-1", "echo", 7, timeout=15) == (200, {"echo": 7})


def test_twin_get_and_reported_patch_visible_on_hub(make_device, hub):
    device = make_device()
    version = hub.update_desired("dev-1", {"interval": 5})
    board = device.start(HANDLERS)
    board.wait_for_line(rf"^agent: twin received \(desired version {version}\)$", timeout=30)
    board.wait_for_line(r"^agent: reported properties", timeout=15)
    reported = hub.twin("dev-1")["reported"]
    assert reported["fw"] == "1.0" and reported["boots"] == 1


def test_desired_patch_while_offline_applied_after_reconnect(make_device, hub):
    device = make_device()
    board = device.start(HANDLERS)
    board.wait_for_line(r"^agent: twin received", timeout=30)
    hub.stop()
    board.wait_for_line(r"^agent: disconnected", timeout=30)
    version = hub.update_desired("dev-1", {"fan": "on"})
    hub.start()
    line = board.wait_for_line(r'^test: desired .*"fan": "on"', timeout=30)
    assert line.endswith(f" {version}")


def test_desired_handler_gets_full_document_at_every_connect(make_device, hub):
    # docs/firmware.md: "full desired at each connect", unchanged version included
    device = make_device()
    version = hub.update_desired("dev-1", {"interval": 5})
    board = device.start(HANDLERS)
    board.wait_for_line(rf'^test: desired {{"interval": 5}} {version}$', timeout=30)
    hub.stop()
    board.wait_for_line(r"^agent: disconnected", timeout=30)
    hub.start()
    board.wait_for_line(r"^agent: connected to .*", timeout=30)
    board.wait_for_line(rf"^agent: twin received \(desired version {version}\)$", timeout=30)
    _wait_lines(board, rf'^test: desired {{"interval": 5}} {version}$', 2, timeout=15)
    assert board.count_lines(r"^agent: ignored stale desired") == 0


def _wait_lines(board, pattern, count, timeout):
    deadline = time.monotonic() + timeout
    while board.count_lines(pattern) < count:
        assert time.monotonic() < deadline, f"fewer than {count} lines {pattern!r}"
        time.sleep(0.05)


def test_c2d_with_properties_delivered_to_handler(make_device, hub):
    device = make_device()
    board = device.start(HANDLERS)
    hub.wait_for_connection("dev-1", timeout=30, topic_filter=C2D_TOPIC)
    hub.c2d("dev-1", "hello", {"color": "red", "path": "a/b c", "empty": ""})
    line = board.wait_for_line(r"^test: c2d hello ", timeout=15)
    properties = json.loads(line.split(" ", 3)[3])
    assert properties["color"] == "red"
    assert properties["path"] == "a/b c"
    assert properties["empty"] == ""


@pytest.mark.parametrize(
    "bag",
    ["%zz=1&%=%&==&k=%E2%82", "&&&=&%", "k=" + "v" * 3000],
    ids=["bad-escapes", "empty-items", "long-value"],
)
def test_c2d_malformed_property_bag_agent_keeps_running(make_device, hub, monkeypatch, bag):
    real_topic = hub_server.topics.c2d_topic
    topics_sent = []

    def malformed_then_real(device_id, properties):
        if not topics_sent:
            topics_sent.append(bag)
            return f"devices/{device_id}/messages/devicebound/{bag}"
        return real_topic(device_id, properties)

    monkeypatch.setattr(hub_server.topics, "c2d_topic", malformed_then_real)
    device = make_device()
    board = device.start(HANDLERS)
    hub.wait_for_connection("dev-1", timeout=30, topic_filter=C2D_TOPIC)
    hub.c2d("dev-1", "first", {})
    hub.c2d("dev-1", "second", {"ok": "yes"})
    line = board.wait_for_line(r"^test: c2d second ", timeout=20)
    assert json.loads(line.split(" ", 3)[3])["ok"] == "yes"
    assert board.running()
    assert hub.invoke("dev-1", "echo", 1, timeout=15) == (200, {"echo": 1})
