"""umqtt.simple stays the application's: the agent never patches it. An application's main.py
uses the pinned umqtt.simple (build/lib, scripts/fetch_umqtt.py) for a second broker, a plain-TCP
MQTT server in this test, next to the agent in one MicroPython process. Before, session.py set
nine of MQTTClient's methods to None on the shared class and this failed with "'NoneType' object
is not callable". The last test is the measurement behind the firmware speaking MQTT itself
(docs/firmware.md): the pinned version cannot send a user name without a password."""

import socket
import threading

import pytest

from host_tools.hub import mqtt
from host_tools.unix_port import run_unix_port

from ..listening import stop_listening
from .conftest import MAIN_HEADER, Device


class PlainBroker:
    """One client at a time, plain TCP: CONNACK, SUBACK, PUBACK; a PUBLISH to app/out is echoed
    to app/in (QoS 0). Records every packet it got."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.packets = []
        self.connects = []
        self._accept_thread = threading.Thread(target=self._serve, daemon=True)
        self._accept_thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn):
        reader = mqtt.PacketReader()
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                for packet in reader.feed(data):
                    self.packets.append(packet)
                    if isinstance(packet, mqtt.Connect):
                        self.connects.append(packet)
                        conn.sendall(mqtt.encode_connack(0))
                    elif isinstance(packet, mqtt.Subscribe):
                        conn.sendall(mqtt.encode_suback(packet.packet_id, [0]))
                    elif isinstance(packet, mqtt.Publish):
                        if packet.qos == 1:
                            conn.sendall(mqtt.encode_puback(packet.packet_id))
                        if packet.topic == "app/out":
                            echo = mqtt.Publish("app/in", b"echo:" + packet.payload)
                            conn.sendall(mqtt.encode_publish(echo))

    def close(self):
        stop_listening(self.listener, self._accept_thread)


@pytest.fixture
def broker():
    server = PlainBroker()
    yield server
    server.close()


APP = """
from umqtt.simple import MQTTClient

got = []
app = MQTTClient("app-1", "127.0.0.1", {port}, keepalive=30)
app.set_callback(lambda topic, msg: got.append((topic, msg)))
app.set_last_will(b"app/status", b"gone")
app.connect()
app.subscribe(b"app/in")
"""

SIDE_BY_SIDE = (
    MAIN_HEADER
    + APP
    + """
agent.run(until=lambda: agent.twin is not None)
app.publish(b"app/out", b"one", qos=1)   # umqtt.simple's own publish, waiting for its PUBACK
app.wait_msg()
agent.send({"n": 1})
agent.run(until=lambda: agent.stats["acked"] >= 1)
app.publish(b"app/out", b"two", qos=1)
app.wait_msg()
app.ping()
print("test: app got", b" ".join(m for t, m in got).decode())
app.disconnect()
agent.run()
"""
)


@pytest.mark.micropython
def test_app_uses_umqtt_simple_for_a_second_broker_next_to_the_agent(tmp_path, hub, broker):
    device = Device(tmp_path, "micropython-unix", hub, "app-dev", "x509", True, {})
    device.write_flash(SIDE_BY_SIDE.replace("{port}", str(broker.port)))
    with run_unix_port(device.flash) as board:
        board.wait_for_line(r"^agent: connected to .* as app-dev \(x509\)$", timeout=30)
        line = board.wait_for_line(r"^test: app got ", timeout=30)
        assert line == "test: app got echo:one echo:two", board.output
        assert [r.body for r in hub.wait_for_telemetry(1, device_id="app-dev", timeout=10)] == [
            b'{"n": 1}'
        ]
        assert "NoneType" not in board.output and "Traceback" not in board.output
    (connect,) = broker.connects
    # umqtt.simple's own CONNECT went out, its last will included
    assert (connect.client_id, connect.will_topic, connect.will_message) == (
        "app-1",
        "app/status",
        b"gone",
    )


PROBE = """
from umqtt.simple import MQTTClient

for password in (None, ""):
    app = MQTTClient("probe", "127.0.0.1", {port}, user="hub/probe/?api-version=2021-04-12",
                     password=password)
    try:
        app.connect()
        print("probe: connected with password", repr(password))
        app.disconnect()
    except Exception as exc:
        print("probe: password", repr(password), "->", type(exc).__name__)
"""


@pytest.mark.micropython
def test_pinned_umqtt_simple_cannot_send_user_name_without_password(tmp_path, hub, broker):
    # What the hub's X.509 CONNECT needs: a user name and no password (flags 0x80).
    device = Device(tmp_path, "micropython-unix", hub, "probe", "x509", False, {})
    device.write_flash(PROBE.replace("{port}", str(broker.port)))
    with run_unix_port(device.flash) as board:
        board.wait_for_line(r"^probe: connected with password ''$", timeout=15)
    assert "probe: password None -> TypeError" in board.output
    # the only way it sends a user name: with a password, empty (flags 0xC0, not 0x80)
    (connect,) = broker.connects
    assert connect.flags & 0xC0 == 0xC0 and connect.password == b""
