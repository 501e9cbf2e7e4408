"""The MQTT codec: round trips, remaining lengths, bounded input, malformed packets."""

import pytest

from host_tools.hub import mqtt


@pytest.mark.parametrize(
    "length, encoded",
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
    ],
)
def test_encode_remaining_length_table(length, encoded):
    assert mqtt.encode_remaining_length(length) == encoded


@pytest.mark.parametrize(
    "packet",
    [
        mqtt.Connect("dev", user_name="h/dev/?api-version=1", keep_alive=60),
        mqtt.Connect("dev", user_name="u", password=b"p", clean_session=True, keep_alive=0),
        mqtt.Publish("devices/d/messages/events/", b"x" * 300, 1, packet_id=9),
        mqtt.Publish("t", b"", 0, retain=True),
    ],
)
def test_packet_reader_round_trip_equal(packet):
    encoder = mqtt.encode_connect if isinstance(packet, mqtt.Connect) else mqtt.encode_publish
    decoded = mqtt.PacketReader().feed(encoder(packet))
    assert len(decoded) == 1
    for name in ("client_id", "user_name", "password", "keep_alive", "clean_session"):
        if isinstance(packet, mqtt.Connect):
            assert getattr(decoded[0], name) == getattr(packet, name)
    if isinstance(packet, mqtt.Publish):
        assert decoded[0] == packet


def test_connect_x509_flags_user_name_only_0x80():
    data = mqtt.encode_connect(mqtt.Connect("dev", user_name="h/dev/?api-version=1"))
    assert data[9] == 0x80  # fixed header 2 + "MQTT" 6 + level 1 -> flags byte
    assert mqtt.PacketReader().feed(data)[0].password is None


def test_packet_reader_byte_by_byte_yields_each_packet_once():
    stream = mqtt.PINGREQ_BYTES + mqtt.encode_subscribe(3, [("$iothub/twin/res/#", 1)])
    reader = mqtt.PacketReader()
    packets = [p for byte in stream for p in reader.feed(bytes([byte]))]
    assert packets[0].kind == mqtt.PINGREQ
    assert packets[1] == mqtt.Subscribe(3, [("$iothub/twin/res/#", 1)])


def test_packet_reader_max_packets_keeps_the_rest_for_a_new_limit():
    big = mqtt.encode_publish(mqtt.Publish("t", b"x" * 500, 0))
    reader = mqtt.PacketReader(max_packet_size=100)
    assert reader.feed(mqtt.PINGREQ_BYTES + big, max_packets=1)[0].kind == mqtt.PINGREQ
    reader.max_packet_size = 1000  # a server raises it once CONNECT is accepted
    assert reader.feed(b"")[0].payload == b"x" * 500


def test_packet_reader_oversized_header_raises_before_body():
    reader = mqtt.PacketReader(max_packet_size=100)
    with pytest.raises(mqtt.PacketTooLarge):
        reader.feed(b"\x30" + mqtt.encode_remaining_length(101))


@pytest.mark.parametrize(
    "data",
    [
        b"\x82\x02\x00\x01",  # SUBSCRIBE without a filter
        b"\x80\x05\x00\x01\x00\x01a",  # SUBSCRIBE with reserved flags 0
        b"\x36\x03\x00\x01t",  # PUBLISH QoS 3
        b"\xf0\x00",  # reserved packet type 15
    ],
)
def test_packet_reader_malformed_raises_protocol_error(data):
    with pytest.raises(mqtt.ProtocolError):
        mqtt.PacketReader().feed(data)


def test_decode_suback_return_codes():
    packet = mqtt.PacketReader().feed(mqtt.encode_suback(4, [1, 0x80]))[0]
    assert (packet.packet_id, packet.return_codes) == (4, [1, 0x80])
