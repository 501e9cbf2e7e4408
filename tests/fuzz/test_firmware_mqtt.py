"""firmware/mqtt_packets.py and mqtt_connect.py under fuzzing. Clean rejection: every parser
returns its value or raises ValueError. What the firmware builds the hub's decoder reads back,
and the reverse."""

import mqtt_connect
import mqtt_packets
from hypothesis import example, given
from hypothesis import strategies as st

from host_tools.hub import mqtt as hub_mqtt

from ._limits import REJECTED, bounded, parse

bodies = st.binary(max_size=80)
first_bytes = st.integers(min_value=0, max_value=255)
remaining_lengths = st.integers(min_value=0, max_value=268_435_455)
topics = st.text(max_size=30).map(str.encode)
packet_ids = st.integers(min_value=1, max_value=0xFFFF)


@given(first_bytes, bodies)
@example(0x32, b"\x00\x05ab")
@example(0x32, b"\x00\x01a\x00")
@example(0x36, b"\x00\x00\x00\x01")
def test_mqtt_parse_publish_any_body_is_a_publish_or_value_error(first, body):
    result = parse(ValueError, mqtt_packets.mqtt_parse_publish, first, body)
    if result is REJECTED:
        return
    topic, pid, qos, payload = result
    assert isinstance(topic, bytes) and 0 <= pid <= 0xFFFF and 0 <= qos <= 3
    assert len(topic) + len(payload) <= len(body)


@given(bodies)
def test_mqtt_parse_packet_id_any_body_is_an_id_or_value_error(body):
    result = parse(ValueError, mqtt_packets.mqtt_parse_packet_id, body)
    assert result is REJECTED or 0 <= result <= 0xFFFF


@given(
    topics,
    st.binary(max_size=40),
    st.sampled_from([0, 1]),
    packet_ids,
    st.booleans(),
    st.booleans(),
)
def test_mqtt_build_publish_is_read_back_by_both_sides(topic, payload, qos, pid, retain, dup):
    buf = bytearray(len(topic) + len(payload) + 9)
    n = mqtt_packets.mqtt_build_publish(buf, topic, payload, qos, pid, retain, dup)
    length = 2 + len(topic) + len(payload) + (2 if qos else 0)
    offset = 1 + len(hub_mqtt.encode_remaining_length(length))
    assert offset + length == n
    got = mqtt_packets.mqtt_parse_publish(buf[0], buf[offset:n])
    assert (got[0], got[1], got[2], bytes(got[3])) == (topic, pid if qos else 0, qos, payload)
    (packet,) = hub_mqtt.PacketReader().feed(bytes(buf[:n]))
    assert packet == hub_mqtt.Publish(
        topic.decode(), payload, qos, retain, dup, pid if qos else None
    )


@given(remaining_lengths)
def test_remaining_length_round_trips_and_matches_the_hub(length):
    buf = bytearray(5)
    end = mqtt_packets.mqtt_put_remaining_length(buf, 1, length)
    assert bytes(buf[1:end]) == hub_mqtt.encode_remaining_length(length)
    assert end - 1 == mqtt_connect.mqtt_remaining_length_size(length)


@given(bodies)
def test_mqtt_parse_connack_any_body_is_a_pair_or_value_error(body):
    result = parse(ValueError, mqtt_connect.mqtt_parse_connack, body)
    assert result is REJECTED or (isinstance(result[0], bool) and 0 <= result[1] <= 255)


@given(st.booleans(), st.integers(min_value=0, max_value=255))
def test_mqtt_parse_connack_reads_the_hub_connack(present, code):
    data = hub_mqtt.encode_connack(code, present)
    assert mqtt_connect.mqtt_parse_connack(data[2:]) == (present, code)


@given(bodies)
def test_mqtt_parse_suback_any_body_is_an_id_and_codes_or_value_error(body):
    result = parse(ValueError, mqtt_connect.mqtt_parse_suback, body)
    if result is not REJECTED:
        assert 0 <= result[0] <= 0xFFFF and len(result[1]) == len(body) - 2


@given(packet_ids, st.lists(st.sampled_from([0, 1, 0x80]), max_size=5))
def test_mqtt_parse_suback_reads_the_hub_suback(pid, codes):
    data = hub_mqtt.encode_suback(pid, codes)
    assert mqtt_connect.mqtt_parse_suback(data[2:]) == (pid, codes)


@given(
    st.text(max_size=30),
    st.none() | st.text(max_size=60),
    st.none() | st.text(max_size=60),
    st.integers(min_value=0, max_value=0xFFFF),
    st.booleans(),
)
def test_mqtt_build_connect_is_read_by_the_hub(client_id, user, password, keepalive, clean):
    size = mqtt_connect.mqtt_connect_size(client_id, user, password)
    buf = bytearray(size)
    n = mqtt_connect.mqtt_build_connect(buf, client_id, user, password, keepalive, clean)
    assert n == size
    (packet,) = bounded(hub_mqtt.PacketReader().feed, bytes(buf))
    assert (packet.client_id, packet.user_name, packet.keep_alive, packet.clean_session) == (
        client_id,
        user,
        keepalive,
        clean,
    )
    assert packet.password == (None if password is None else password.encode())


@given(packet_ids, st.lists(topics.filter(bool), min_size=1, max_size=4), st.sampled_from([0, 1]))
def test_mqtt_build_subscribe_is_read_by_the_hub(pid, filters, qos):
    buf = bytearray(5 + sum(len(t) + 3 for t in filters) + 2)
    n = mqtt_connect.mqtt_build_subscribe(buf, pid, filters, qos)
    (packet,) = hub_mqtt.PacketReader().feed(bytes(buf[:n]))
    assert packet == hub_mqtt.Subscribe(pid, [(t.decode(), qos) for t in filters])
