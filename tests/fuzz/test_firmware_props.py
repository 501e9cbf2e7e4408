"""firmware/props.py (and c2d.py's topic parser) under fuzzing. Clean rejection: the parsers
return a value (None for "not this topic") or raise ValueError, which is what a topic or bag
that is not UTF-8 raises (UnicodeError is a ValueError); incoming.py catches ValueError from
dispatch."""

from urllib.parse import unquote_to_bytes

import c2d
import props
from hypothesis import example, given
from hypothesis import strategies as st

from host_tools.hub import topics as hub_topics

from ._limits import REJECTED, parse
from ._strategies import topic_bytes

property_names = st.text(min_size=1, max_size=12)
property_bags = st.dictionaries(property_names, st.none() | st.text(max_size=12), max_size=5)
device_ids = st.text(min_size=1, max_size=12)


def _is_bag(value):
    return isinstance(value, dict) and all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    )


@given(topic_bytes)
@example(b"%")
@example(b"%4")
@example(b"%C3")
@example(b"%ff")
def test_url_decode_any_bytes_is_text_or_value_error(data):
    result = parse(ValueError, props.url_decode, data)
    if result is not REJECTED:
        assert isinstance(result, str)
    # the same answer as the standard library's percent-decoding (invalid escapes kept as is)
    try:
        expected = unquote_to_bytes(data).decode()
    except UnicodeDecodeError:
        assert result is REJECTED
    else:
        assert result == expected


@given(st.text(max_size=30))
def test_url_encode_then_decode_is_identity(text):
    assert parse((), props.url_decode, props.url_encode(text)) == text


@given(topic_bytes)
def test_props_decode_any_bytes_is_a_bag_or_value_error(data):
    result = parse(ValueError, props.props_decode, data)
    assert result is REJECTED or _is_bag(result)


@given(property_bags)
@example({"k": "a&b=c", "$.mid": "%"})
def test_props_encode_then_decode_is_identity_on_both_sides(bag):
    encoded = props.props_encode(bag)
    assert parse((), props.props_decode, encoded) == bag
    assert parse((), props.props_decode, hub_topics.property_bag_encode(bag)) == bag
    assert parse((), hub_topics.property_bag_decode, encoded) == bag


@given(device_ids, topic_bytes)
def test_c2d_parse_received_topic_any_topic_is_none_bag_or_value_error(device_id, topic):
    result = parse(ValueError, c2d.c2d_parse_received_topic, device_id, topic)
    assert result is REJECTED or result is None or _is_bag(result)


@given(device_ids.filter(lambda d: "/" not in d), property_bags)
def test_c2d_parse_received_topic_reads_the_hub_topic_back(device_id, bag):
    topic = hub_topics.c2d_topic(device_id, bag).encode()
    assert parse((), c2d.c2d_parse_received_topic, device_id, topic) == bag


@given(topic_bytes)
def test_props_decode_query_any_bytes_is_a_bag_or_value_error(rest):
    result = parse(ValueError, props.props_decode_query, rest)
    assert result is REJECTED or _is_bag(result)
