"""firmware/twin.py's pure parsers under fuzzing. Clean rejection: the topic parsers return None
("not a twin topic") or a value, or raise ValueError (a topic that is not UTF-8); the body parsers
return a tuple whose patch/desired part is a dict, or raise ValueError (not JSON, not an object).
incoming.py catches ValueError, KeyError, TypeError and IndexError from dispatch; nothing else.
Deeper JSON than CPython's recursion limit (the emulated board runs the firmware under CPython) is
a ValueError too; so is a "desired" or "reported" that is not an object. A version that is not an
integer reads as -1."""

import json

import pytest
import twin
from hypothesis import example, given
from hypothesis import strategies as st

from host_tools.hub import topics as hub_topics

from ._limits import REJECTED, parse
from ._strategies import deep_json, json_bodies, json_values, topic_bytes


@given(topic_bytes)
@example(b"$iothub/twin/res/\xc2\xb2/?$rid=1")
@example(b"$iothub/twin/res/" + b"9" * 5000 + b"/?$rid=1")
@example(b"$iothub/twin/res/200/?$rid=1&$version=" + b"9" * 5000)
def test_twin_parse_response_topic_any_topic_is_none_tuple_or_value_error(topic):
    result = parse(ValueError, twin.twin_parse_response_topic, topic)
    if result is REJECTED or result is None:
        return
    status, rid, version = result
    assert isinstance(status, int)
    assert rid is None or isinstance(rid, str)
    assert version is None or isinstance(version, int)


@given(
    st.integers(min_value=100, max_value=599),
    st.text(min_size=1, max_size=10),
    st.none() | st.integers(min_value=0, max_value=2**40),
)
def test_twin_parse_response_topic_reads_the_hub_topic_back(status, rid, version):
    topic = hub_topics.twin_response_topic(status, rid, version).encode()
    assert parse((), twin.twin_parse_response_topic, topic) == (status, rid, version)


@given(topic_bytes)
@example(b"$iothub/twin/PATCH/properties/desired/?$version=" + b"9" * 5000)
def test_twin_parse_desired_topic_any_topic_is_none_int_or_value_error(topic):
    result = parse(ValueError, twin.twin_parse_desired_topic, topic)
    assert result is REJECTED or result is None or isinstance(result, int)


@given(st.integers(min_value=0, max_value=2**40))
def test_twin_parse_desired_topic_reads_the_hub_topic_back(version):
    topic = hub_topics.twin_desired_topic(version).encode()
    assert parse((), twin.twin_parse_desired_topic, topic) == version


documents = st.one_of(
    json_bodies,
    st.fixed_dictionaries({}, optional={"desired": json_values, "reported": json_values}).map(
        lambda d: json.dumps(d).encode()
    ),
)


@given(documents)
def test_twin_parse_document_any_body_is_a_document_or_value_error(body):
    result = parse(ValueError, twin.twin_parse_document, body)
    if result is REJECTED:
        return
    desired, version, reported = result
    assert isinstance(desired, dict) and "$version" not in desired
    assert isinstance(reported, dict) and isinstance(version, int)


def test_twin_parse_document_desired_not_an_object_is_a_value_error():
    with pytest.raises(ValueError):
        twin.twin_parse_document(b'{"desired": [1]}')


@given(json_bodies, st.integers(min_value=-1, max_value=2**31))
@example(b'{"$version": null, "a": 1}', 4)
def test_twin_parse_desired_patch_any_body_is_a_patch_or_value_error(body, topic_version):
    result = parse(ValueError, twin.twin_parse_desired_patch, body, topic_version)
    if result is REJECTED:
        return
    patch, version = result
    assert isinstance(patch, dict) and "$version" not in patch
    assert isinstance(version, int)


@given(deep_json)
def test_twin_body_parsers_deep_json_never_hang(body):
    for fn in (twin.twin_parse_document, twin.twin_parse_desired_patch):
        parse(ValueError, fn, body)


def test_twin_parse_desired_patch_deeply_nested_is_a_value_error():
    with pytest.raises(ValueError):
        twin.twin_parse_desired_patch(b"[" * 5000 + b"]" * 5000)
