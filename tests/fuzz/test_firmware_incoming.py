"""firmware/incoming.py's incoming_handle under fuzzing: whatever topic and payload a hostile or
buggy hub sends (not UTF-8, a twin whose desired is not an object, deep JSON), the message costs
at most a printed line, never an exception that would drop the session."""

import types

import incoming
from hypothesis import example, given
from hypothesis import strategies as st

from ._limits import bounded
from ._strategies import json_bodies, topic_bytes

PREFIXES = [
    b"",
    b"devices/dev-1/messages/devicebound/",
    b"$iothub/methods/POST/",
    b"$iothub/twin/res/200/?$rid=1",
    b"$iothub/twin/PATCH/properties/desired/?$version=",
]


class _Session:
    max_incoming = 16384
    sock = object()

    def __init__(self):
        self.sent = []

    def puback(self, pid):
        self.sent.append(("puback", pid))

    def publish(self, topic, payload, retain=False, qos=0, dup=False):
        self.sent.append((topic, payload))


def _agent():
    stats = dict.fromkeys(("c2d", "methods", "desired"), 0)
    agent = types.SimpleNamespace(
        config={"device_id": "dev-1"},
        _session=_Session(),
        stats=stats,
        _c2d=None,
        _desired=None,
        _methods={},
        _twin_requests={"1": "get"},
        _twin_report={},
        twin=None,
        desired_version=-1,
        reported_version=None,
    )
    return agent


def _packet(topic, payload, qos):
    body = bytes([len(topic) >> 8, len(topic) & 0xFF]) + topic
    if qos:
        body += b"\x00\x07"
    body += payload
    return 0x30 | qos << 1, memoryview(body), len(body)


@given(st.sampled_from(PREFIXES), topic_bytes, json_bodies, st.sampled_from([0, 1]))
@example(b"", b"\xff\xfe/x", b"{}", 1)
@example(b"$iothub/twin/res/200/?$rid=1", b"", b'{"desired": [1]}', 0)
@example(b"$iothub/twin/PATCH/properties/desired/?$version=", b"3", b'"not an object"', 0)
def test_incoming_handle_any_message_never_raises(prefix, rest, payload, qos):
    topic = (prefix + rest)[:4000]
    agent = _agent()
    result = bounded(incoming.incoming_handle, agent, agent._session, _packet(topic, payload, qos))
    assert len(result) == 6 and result[0] in ("", "c2d", "methods", "twin", "desired")
    if qos:
        assert ("puback", 7) in agent._session.sent
