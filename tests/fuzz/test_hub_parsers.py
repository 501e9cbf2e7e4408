"""The emulator's parsers under fuzzing. Clean rejection: the MQTT decoder raises ProtocolError
(PacketTooLarge included) or returns packets; topic parsers return a value or None; the SAS
judge returns a refusal Verdict; twin_parse_patch raises TwinError (a ValueError)."""

import base64
import types

from hypothesis import example, given
from hypothesis import strategies as st

from host_tools.hub import auth, mqtt, topics, twin

from ._limits import REJECTED, bounded, parse
from ._strategies import deep_json, json_bodies, mutated, topic_text

# --- MQTT -----------------------------------------------------------------------------------

texts = st.text(max_size=20)
pids = st.integers(min_value=1, max_value=0xFFFF)
packets = st.one_of(
    st.builds(
        mqtt.Connect,
        client_id=texts,
        user_name=st.none() | texts,
        password=st.none() | st.binary(max_size=20),
        keep_alive=st.integers(0, 0xFFFF),
        clean_session=st.booleans(),
    ),
    st.builds(lambda t, p: mqtt.Publish(t, p), texts, st.binary(max_size=30)),
    st.builds(
        lambda t, p, q, i, r, d: mqtt.Publish(t, p, q, r, d, i),
        texts,
        st.binary(max_size=30),
        st.sampled_from([1, 2]),
        pids,
        st.booleans(),
        st.booleans(),
    ),
    st.builds(
        mqtt.Subscribe, pids, st.lists(st.tuples(texts, st.integers(0, 2)), min_size=1, max_size=3)
    ),
    st.builds(mqtt.Unsubscribe, pids, st.lists(texts, min_size=1, max_size=3)),
)


def _encode(packet):
    if isinstance(packet, mqtt.Connect):
        return mqtt.encode_connect(packet)
    if isinstance(packet, mqtt.Publish):
        return mqtt.encode_publish(packet)
    if isinstance(packet, mqtt.Subscribe):
        return mqtt.encode_subscribe(packet.packet_id, packet.filters)
    return mqtt.encode_unsubscribe(packet.packet_id, packet.filters)


def _normal(packet):
    if isinstance(packet, mqtt.Connect):
        return (packet.client_id, packet.user_name, packet.password, packet.keep_alive)
    return packet


streams = st.lists(packets, max_size=5).map(lambda ps: (ps, b"".join(map(_encode, ps))))


def _feed_all(reader, chunks):
    got = []
    for chunk in chunks:
        try:
            got += bounded(reader.feed, chunk)
        except mqtt.ProtocolError:
            return got, True  # the server drops the connection here
    return got, False


def _split(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(st.lists(st.binary(max_size=40), max_size=6), st.integers(4, 1 << 20))
@example([b"\x30\xff\xff\xff\xff\x01"], 1 << 20)
@example([b"\x82\x02\x00\x01"], 1 << 20)
@example([b"\x10\x0c\x00\x04MQTT\x04\x00\x00\x3c\x00\x05ab"], 1 << 20)
def test_packet_reader_any_bytes_are_packets_or_protocol_error(chunks, limit):
    _feed_all(mqtt.PacketReader(limit), chunks)


@given(streams, st.lists(st.integers(min_value=0), max_size=8))
def test_packet_reader_any_chunking_gives_the_packets_sent(stream, cuts):
    sent, data = stream
    got, failed = _feed_all(mqtt.PacketReader(), _split(data, cuts))
    assert not failed
    assert list(map(_normal, got)) == list(map(_normal, sent))


@given(mutated(streams.map(lambda s: s[1])), st.lists(st.integers(min_value=0), max_size=4))
def test_packet_reader_mutated_stream_is_packets_or_protocol_error(data, cuts):
    _feed_all(mqtt.PacketReader(256), _split(data, cuts))


@given(st.integers(0, 255), st.binary(max_size=40))
def test_decode_packet_any_body_is_a_packet_or_protocol_error(first, body):
    parse(mqtt.ProtocolError, mqtt.decode_packet, first, body)


# --- topics ---------------------------------------------------------------------------------


@given(topic_text, st.text(min_size=1, max_size=10))
@example("$iothub/methods/res/\u00b2/?$rid=1", "d")
@example("$iothub/methods/res/" + "9" * 5000 + "/?$rid=1", "d")
def test_topic_parsers_any_text_is_a_value_or_none(topic, device_id):
    assert isinstance(bounded(topics.property_bag_decode, topic), dict)
    user = bounded(topics.user_name_parse, topic)
    assert user is None or user.device_id
    telemetry = bounded(topics.telemetry_parse_topic, topic, device_id)
    assert telemetry is None or isinstance(telemetry, dict)
    request = bounded(topics.twin_parse_request, topic)
    assert request is None or request.kind in ("get", "patch-reported")
    answer = bounded(topics.method_parse_response, topic)
    assert answer is None or isinstance(answer.status, int)
    assert isinstance(bounded(topics.subscription_allowed, topic, device_id), bool)
    assert isinstance(bounded(topics.topic_matches, topic, topic[::-1]), bool)


def test_method_parse_response_non_ascii_digit_status_is_none():
    # Regression (fuzzing): "²".isdigit() is True and int("²") raised ValueError.
    assert topics.method_parse_response("$iothub/methods/res/\u00b2/?$rid=1") is None
    assert topics.method_parse_response("$iothub/methods/res/" + "9" * 5000 + "/?$rid=1") is None
    assert topics.method_parse_response("$iothub/methods/res/200/?$rid=1").status == 200


@given(st.dictionaries(st.text(min_size=1, max_size=10), st.none() | st.text(max_size=10)))
def test_property_bag_encode_then_decode_is_identity(bag):
    assert topics.property_bag_decode(topics.property_bag_encode(bag)) == bag


# --- SAS tokens -----------------------------------------------------------------------------

HOST = "hub.example.net"
DEVICE = "dev-1"
KEY = base64.b64encode(bytes(range(32))).decode()
SR = f"{HOST}%2Fdevices%2F{DEVICE}"
REGISTRY = types.SimpleNamespace(
    devices={
        DEVICE: {
            "status": "enabled",
            "authentication": {"type": "sas", "symmetricKey": {"primaryKey": KEY}},
        }
    },
    cas={},
)
NOW = 1_800_000_000


def _judge(password):
    connect = mqtt.Connect(DEVICE, f"{HOST}/{DEVICE}/?api-version=2021-04-12", password)
    return bounded(auth.authenticate, connect, HOST, REGISTRY, [], NOW)


se_values = st.one_of(
    st.integers(0, 2 * NOW).map(str),
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=6),
    st.integers(4000, 6000).map(lambda n: "9" * n),
    texts,
)
sig_values = st.one_of(
    st.just(auth.sas_token_sign(KEY, SR, NOW + 60)),
    texts,
    st.text(st.characters(min_codepoint=128), min_size=1, max_size=8),
    st.binary(max_size=12).map(lambda b: "".join(f"%{c:02X}" for c in b)),
)
token_fields = st.fixed_dictionaries(
    {}, optional={"sr": st.just(SR) | texts, "sig": sig_values, "se": se_values, "x": texts}
)


def _token(fields):
    return ("SharedAccessSignature " + "&".join(f"{k}={v}" for k, v in fields.items())).encode()


@given(token_fields.map(_token) | st.binary(max_size=60))
@example(_token({"sr": SR, "sig": "\u00e9", "se": str(NOW + 60)}))
@example(_token({"sr": SR, "sig": "%C3%A9", "se": str(NOW + 60)}))
@example(_token({"sr": SR, "sig": "x", "se": "\u00b2"}))
@example(_token({"sr": SR, "sig": "x", "se": "9" * 5000}))
@example(_token({"sr": SR, "se": "1"}))
def test_sas_judge_any_password_is_a_verdict(password):
    verdict = _judge(password)
    assert verdict.code in (mqtt.CONNACK_ACCEPTED, mqtt.CONNACK_NOT_AUTHORIZED)
    assert verdict.accepted == (password == _token({"sr": SR, "sig": _sig(), "se": str(NOW + 60)}))


def _sig():
    return auth.sas_token_sign(KEY, SR, NOW + 60)


def test_sas_judge_bad_signatures_and_expiries_are_refusals():
    # Regression (fuzzing): a non-ASCII sig raised TypeError in hmac.compare_digest; an `se` of
    # unicode digits or over 4300 digits raised ValueError in int().
    for fields in (
        {"sr": SR, "sig": "\u00e9", "se": str(NOW + 60)},
        {"sr": SR, "sig": "x", "se": "\u00b2"},
        {"sr": SR, "sig": "x", "se": "9" * 5000},
    ):
        assert _judge(_token(fields)).code == mqtt.CONNACK_NOT_AUTHORIZED
    assert _judge(_token({"sr": SR, "sig": _sig(), "se": str(NOW + 60)})).accepted


# --- twin patches ---------------------------------------------------------------------------


@given(json_bodies | deep_json)
@example(b"[" * 5000 + b"]" * 5000)
@example(b'{"a":' * 900 + b"1" + b"}" * 900)
def test_twin_parse_and_apply_patch_any_body_is_a_version_or_twin_error(body):
    patch = parse(twin.TwinError, twin.twin_parse_patch, body)
    if patch is REJECTED:
        return
    document = {"desired": {"$version": 1}, "reported": {"$version": 1}}
    version = parse(twin.TwinError, twin.twin_apply_patch, document, "reported", patch)
    assert version is REJECTED or version == 2
