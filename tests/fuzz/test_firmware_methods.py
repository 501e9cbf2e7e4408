"""firmware/methods.py under fuzzing. Clean rejection: method_parse_request_topic returns None
("not a method request") or (name, request id), or raises ValueError (not UTF-8); method_call
never raises: every payload and every handler outcome becomes (status, JSON bytes)."""

import json

import methods
from hypothesis import example, given
from hypothesis import strategies as st

from host_tools.hub import topics as hub_topics

from ._limits import REJECTED, bounded, parse
from ._strategies import deep_json, json_bodies, json_values, topic_bytes

SAFE_NAMES = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", min_size=1, max_size=16
)


@given(topic_bytes)
@example(b"$iothub/methods/POST/\xff/?$rid=1")
@example(b"$iothub/methods/POST//?$rid=1")
def test_method_parse_request_topic_any_topic_is_none_pair_or_value_error(topic):
    result = parse(ValueError, methods.method_parse_request_topic, topic)
    if result is REJECTED or result is None:
        return
    name, rid = result
    assert isinstance(name, str) and name and isinstance(rid, str)


@given(SAFE_NAMES, SAFE_NAMES)
def test_method_parse_request_topic_reads_the_hub_topic_back(name, rid):
    topic = hub_topics.method_request_topic(name, rid).encode()
    assert parse((), methods.method_parse_request_topic, topic) == (name, rid)


@given(st.integers(min_value=0, max_value=999), SAFE_NAMES)
def test_method_get_response_topic_is_read_by_the_hub(status, rid):
    topic = methods.method_get_response_topic(status, rid).decode()
    answer = hub_topics.method_parse_response(topic)
    assert (answer.status, answer.request_id) == (status, rid)


def _echo(payload):
    return payload


class _Odd(Exception):
    def __str__(self):
        return "\udcff odd \x00"


def _outcome_handler(outcome):
    kind, value = outcome

    def handler(payload):
        if kind == "raise":
            raise _Odd() if value is None else ValueError(value)
        if kind == "status":
            return value
        if kind == "object":
            return object()
        return value

    return handler


outcomes = st.one_of(
    st.tuples(st.just("return"), json_values),
    st.tuples(st.just("raise"), st.none() | st.text(max_size=10)),
    st.tuples(st.just("status"), st.tuples(st.integers(min_value=-1, max_value=999), json_values)),
    st.tuples(st.just("object"), st.none()),
)


def _check_answer(answer):
    status, body = answer
    assert isinstance(status, int) and isinstance(body, bytes)
    json.loads(body)


@given(st.text(max_size=12), json_bodies | deep_json)
@example("echo", b"[" * 3000 + b"]" * 3000)
@example("echo", b"\xff\xfe")
@example("echo", b"NaN")
def test_method_call_any_payload_is_a_status_and_json(name, body):
    _check_answer(bounded(methods.method_call, {"echo": _echo, name: _echo}, name, body))
    _check_answer(bounded(methods.method_call, {}, name, body))


@given(outcomes, json_bodies)
def test_method_call_any_handler_outcome_is_a_status_and_json(outcome, body):
    _check_answer(bounded(methods.method_call, {"m": _outcome_handler(outcome)}, "m", body))


def test_method_call_deeply_nested_payload_is_400():
    # Regression (fuzzing): CPython's json raised RecursionError out of method_call.
    status, _ = methods.method_call({"m": _echo}, "m", b"[" * 5000 + b"]" * 5000)
    assert status == 400
