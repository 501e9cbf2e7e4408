"""The emulator over real TLS with a raw MQTT device: connect, publish, subscribe, refuse."""

import json
import socket
import ssl
import threading
import time

import pytest

from host_tools.hub import mqtt
from host_tools.hub.registry import RegistryError
from tests.hub.device import Device


def connect_self_signed(hub, credentials, **kwargs):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    connack = device.connect(**kwargs)
    return device, connack


def test_connect_self_signed_registered_thumbprint_accepted(hub, credentials):
    device, connack = connect_self_signed(hub, credentials)
    assert connack.return_code == 0
    device.publish("devices/dev-self/messages/events/%24.mid=1&temp=21", b"{}", qos=1)
    assert device.expect(mqtt.PUBACK).packet_id == 1
    record = hub.wait_for_telemetry(1)[0]
    assert record.device_id == "dev-self"
    assert record.properties == {"$.mid": "1", "temp": "21"}
    assert record.body == b"{}"


def connected(hub, credentials, **kwargs):
    device, connack = connect_self_signed(hub, credentials, **kwargs)
    assert connack.return_code == 0
    return device


def test_connect_tls13_and_tls12_both_accepted(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha256)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        device = Device(hub, "dev-self", files.cert_pem, files.key_pem, tls_version=version)
        assert device.connect().return_code == 0
        assert device.sock.version() == version.name.replace("_", ".")
        device.close()


def test_publish_qos0_recorded_without_puback(hub, credentials):
    device = connected(hub, credentials)
    device.publish("devices/dev-self/messages/events/", b"zero", qos=0)
    assert hub.wait_for_telemetry(1)[0].body == b"zero"


def test_publish_qos2_closes_connection(hub, credentials):
    device = connected(hub, credentials)
    device.publish("devices/dev-self/messages/events/", b"two", qos=2)
    assert device.is_closed()
    assert hub.telemetry() == []


def test_publish_over_256kb_closes_connection(hub, credentials):
    device = connected(hub, credentials)
    device.publish("devices/dev-self/messages/events/", b"x" * (256 * 1024 + 1), qos=1)
    assert device.is_closed()
    assert (
        "too large" in hub.connection_log[-1].reason or "exceeds" in hub.connection_log[-1].reason
    )


def test_publish_retain_becomes_mqtt_retain_property(hub, credentials):
    device = connected(hub, credentials)
    packet = mqtt.Publish("devices/dev-self/messages/events/a=1", b"r", 1, True, packet_id=7)
    device.send_raw(mqtt.encode_publish(packet))
    assert hub.wait_for_telemetry(1)[0].properties == {"a": "1", "mqtt-retain": "true"}


def test_pingreq_answered_with_pingresp(hub, credentials):
    device = connected(hub, credentials)
    device.send_raw(mqtt.PINGREQ_BYTES)
    assert device.expect(mqtt.PINGRESP) is not None


def test_keepalive_silent_device_dropped_after_one_and_a_half(hub, credentials):
    device = connected(hub, credentials, keep_alive=1)
    started = time.monotonic()
    assert device.is_closed(timeout=10)
    # not before 1.5 keep-alives; the upper bound leaves room for a loaded machine
    assert 1.4 <= time.monotonic() - started < 8
    assert "keep-alive" in hub.connection_log[-1].reason


def test_connect_second_connection_same_id_closes_first(hub, credentials):
    first = connected(hub, credentials)
    second = connected(hub, credentials)
    assert first.is_closed()
    second.publish("devices/dev-self/messages/events/", b"still here", qos=1)
    assert second.expect(mqtt.PUBACK) is not None


def test_subscriptions_clean_session_off_persist_across_reconnect(hub, credentials):
    device = connected(hub, credentials)
    assert device.subscribe("$iothub/twin/res/#") == [1]
    device.close()
    again, connack = connect_self_signed(hub, credentials)
    assert connack.session_present
    again.publish("$iothub/twin/GET/?$rid=7", b" ", qos=0)
    answer = again.expect(mqtt.PUBLISH)
    assert answer.topic == "$iothub/twin/res/200/?$rid=7"


def test_subscriptions_clean_session_on_forgotten(hub, credentials):
    device = connected(hub, credentials)
    device.subscribe("$iothub/twin/res/#")
    device.close()
    again, connack = connect_self_signed(hub, credentials, clean_session=True)
    assert not connack.session_present


def test_twin_get_and_patch_reported_versions(hub, credentials):
    device = connected(hub, credentials)
    device.subscribe("$iothub/twin/res/#")
    device.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", b'{"a": {"b": 1}}', qos=1)
    answer = device.expect(mqtt.PUBLISH)
    assert answer.topic == "$iothub/twin/res/204/?$rid=1&$version=2"
    assert answer.payload == b""
    device.publish("$iothub/twin/PATCH/properties/reported/?$rid=2", b'{"a": null}', qos=1)
    assert device.expect(mqtt.PUBLISH).topic.endswith("$version=3")
    device.publish("$iothub/twin/GET/?$rid=3", b" ", qos=1)
    twin = json.loads(device.expect(mqtt.PUBLISH).payload)
    assert twin == {"desired": {"$version": 1}, "reported": {"$version": 3}}


def test_twin_patch_reported_not_json_answers_400(hub, credentials):
    device = connected(hub, credentials)
    device.subscribe("$iothub/twin/res/#")
    device.publish("$iothub/twin/PATCH/properties/reported/?$rid=9", b"not json", qos=1)
    assert device.expect(mqtt.PUBLISH).topic == "$iothub/twin/res/400/?$rid=9"


def test_update_desired_pushed_with_version(hub, credentials):
    device = connected(hub, credentials)
    device.subscribe("$iothub/twin/PATCH/properties/desired/#")
    version = hub.update_desired("dev-self", {"interval": 10})
    message = device.expect(mqtt.PUBLISH)
    assert message.topic == f"$iothub/twin/PATCH/properties/desired/?$version={version}"
    assert json.loads(message.payload) == {"interval": 10, "$version": version}


def test_invoke_device_answers_status_and_payload(hub, credentials):
    device = connected(hub, credentials)
    device.subscribe("$iothub/methods/POST/#")
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(answer=hub.invoke("dev-self", "blink", {"n": 2}, timeout=5))
    )
    thread.start()
    request = device.expect(mqtt.PUBLISH)
    assert request.topic.startswith("$iothub/methods/POST/blink/?$rid=")
    assert json.loads(request.payload) == {"n": 2}
    request_id = request.topic.rsplit("=", 1)[1]
    device.publish(f"$iothub/methods/res/201/?$rid={request_id}", b'{"ok": true}', qos=0)
    thread.join(5)
    assert result["answer"] == (201, {"ok": True})


def test_invoke_device_silent_times_out_504(hub, credentials):
    device = connected(hub, credentials)
    device.subscribe("$iothub/methods/POST/#")
    status, _ = hub.invoke("dev-self", "blink", None, timeout=0.3)
    assert status == 504


def test_invoke_device_offline_404(hub, credentials):
    hub.register_x509("dev-self", credentials["self_signed"].sha1)
    assert hub.invoke("dev-self", "blink", None, timeout=1)[0] == 404


def test_c2d_queued_while_offline_delivered_on_subscribe_and_removed_on_puback(hub, credentials):
    hub.register_x509("dev-self", credentials["self_signed"].sha1)
    hub.c2d("dev-self", b"queued", {"path": "a/b", "empty": "", "null": None})
    device = connected(hub, credentials)
    device.subscribe("devices/dev-self/messages/devicebound/#")
    message = device.expect(mqtt.PUBLISH)
    assert message.payload == b"queued"
    bag = message.topic.split("/messages/devicebound/", 1)[1]
    assert "/" not in bag
    assert bag.startswith("path=a%2Fb&empty=&null&%24.mid=")
    device.send_raw(mqtt.encode_puback(message.packet_id))
    device.send_raw(mqtt.PINGREQ_BYTES)
    device.expect(mqtt.PINGRESP)
    assert hub.hub.registry.device("dev-self")["c2d"] == []


def test_c2d_unacknowledged_redelivered_after_reconnect(hub, credentials):
    device = connected(hub, credentials)
    device.subscribe("devices/dev-self/messages/devicebound/#")
    hub.c2d("dev-self", b"again")
    assert device.expect(mqtt.PUBLISH).payload == b"again"
    device.close()
    again = connected(hub, credentials)  # no SUBSCRIBE: the session kept it
    assert again.expect(mqtt.PUBLISH).payload == b"again"


def test_c2d_queue_over_50_refused(hub, credentials):
    hub.register_x509("dev-self", credentials["self_signed"].sha1)
    for index in range(50):
        hub.c2d("dev-self", str(index))
    with pytest.raises(RegistryError, match="403004"):
        hub.c2d("dev-self", "one too many")


@pytest.mark.parametrize("device_id", ["has space", "a/b", "x" * 129, "caf\u00e9"])
def test_register_invalid_device_id_refused_as_the_hub_does(hub, device_id):
    with pytest.raises(RegistryError, match="is not valid"):
        hub.register_x509(device_id, "A" * 64)


def test_stop_start_same_port_keeps_state(hub, credentials):
    device = connected(hub, credentials)
    port = hub.port
    hub.stop()
    assert device.is_closed()
    hub.start()
    assert hub.port == port
    assert connected(hub, credentials) is not None


def test_slow_device_never_stalls_another(hub, credentials, tmp_path):
    silent = Device(hub, "nobody")  # completes TLS and then says nothing
    device = connected(hub, credentials)
    device.publish("devices/dev-self/messages/events/", b"fast", qos=1)
    assert device.expect(mqtt.PUBACK, timeout=2) is not None
    silent.close()


# before CONNECT: a deadline that trickled bytes do not move, and a small packet cap ------------


def trickle_until_closed(send_byte, alive, data: bytes, limit_s: float) -> float | None:
    """Send `data` one byte per second; seconds until the hub closed, or None if it never did."""
    started = time.monotonic()
    for byte in data:
        try:
            send_byte(bytes([byte]))
        except OSError:  # ssl.SSLError and BrokenPipeError included
            return time.monotonic() - started
        if not alive(1.0):
            return time.monotonic() - started
        if time.monotonic() - started > limit_s:
            return None
    return None


def test_connect_trickled_one_byte_per_second_closed_at_deadline(hub, credentials):
    hub.hub.connect_deadline_s = 3.0
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    started = time.monotonic()
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)  # TLS done
    connect = mqtt.encode_connect(mqtt.Connect("dev-self", device.user_name(), keep_alive=60))
    elapsed = trickle_until_closed(device.send_raw, device._read, connect, limit_s=10)
    assert elapsed is not None, "a trickling client kept its pre-CONNECT connection"
    assert time.monotonic() - started < 3.0 + 2.5  # the deadline counts from the TCP accept
    closed = [e for e in hub.connection_log if e.event == "closed"]
    assert "CONNECT" in closed[-1].reason and "3" in closed[-1].reason


def test_tls_handshake_trickled_one_byte_per_second_closed_at_deadline_and_logged(hub):
    hub.hub.connect_deadline_s = 3.0
    context = ssl.create_default_context(cafile=str(hub.ca_file))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=hub.host_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    client_hello = outgoing.read()
    raw = socket.create_connection(("127.0.0.1", hub.port), timeout=5)

    def alive(timeout):
        raw.settimeout(timeout)
        try:
            return raw.recv(65536) != b""
        except TimeoutError:
            return True
        except OSError:
            return False

    try:
        elapsed = trickle_until_closed(raw.sendall, alive, client_hello, limit_s=10)
    finally:
        raw.close()
    assert elapsed is not None and elapsed < 3.0 + 2.5
    closed = [e for e in hub.connection_log if e.event == "closed"]
    assert closed and "TLS handshake" in closed[-1].reason


def test_connect_huge_remaining_length_closed_at_once_without_buffering(hub, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    started = time.monotonic()
    device.send_raw(bytes([mqtt.CONNECT << 4]) + mqtt.encode_remaining_length(200_000))
    assert device.is_closed(timeout=2)
    assert time.monotonic() - started < 2
    closed = [e for e in hub.connection_log if e.event == "closed"]
    assert "before authentication" in closed[-1].reason and "200000" in closed[-1].reason


def test_connect_then_large_publish_in_one_write_both_handled(hub, credentials):
    """The pre-CONNECT cap applies to the CONNECT only, even when the next packet rides along."""
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    connect = mqtt.encode_connect(mqtt.Connect("dev-self", device.user_name()))
    publish = mqtt.Publish("devices/dev-self/messages/events/", b"x" * 20_000, 1, packet_id=1)
    device.send_raw(connect + mqtt.encode_publish(publish))
    assert device.expect(mqtt.CONNACK).return_code == 0
    assert device.expect(mqtt.PUBACK).packet_id == 1


def test_connect_accepted_log_records_certificate_thumbprints(hub, credentials):
    files = credentials["self_signed"]
    connected(hub, credentials)
    accepted = [e for e in hub.connection_log if e.event == "accepted"][-1]
    assert accepted.thumbprints == {"sha1": files.sha1.upper(), "sha256": files.sha256.upper()}
    status, events = hub.request("GET", "/connections")
    accepted_json = [e for e in events if e["event"] == "accepted"][-1]
    assert status == 200 and accepted_json["thumbprints"]["sha256"] == files.sha256.upper()
