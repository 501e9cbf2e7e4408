"""firmware/dps.py under fuzzing, and its agreement with the emulator's side of the dialect.

Clean rejection: dps_parse_response returns None ("not DPS's topic") or (status, rid, retry-after,
document), or raises ValueError; dps_outcome returns ("wait", ...) / ("assigned", hub, id) or
raises AgentError, for any status and any JSON document; config_validate's dps section gives
values or AgentError."""

import config
import dps
import provision
from errors import AgentError
from hypothesis import example, given
from hypothesis import strategies as st

from host_tools.dps import topics as dps_topics

from ._limits import REJECTED, parse
from ._strategies import json_bodies, json_values, topic_bytes

RIDS = st.integers(min_value=0, max_value=2**31)
IDS = st.text("abcdefghijklmnopqrstuvwxyz0123456789-._:", min_size=1, max_size=40).filter(
    lambda s: s[-1].isalnum() or s[-1] == "-"
)


@given(
    topic_bytes | st.binary(max_size=60).map(lambda b: b"$dps/registrations/res/" + b), json_bodies
)
@example(b"$dps/registrations/res/", b"")
@example(b"$dps/registrations/res/abc/?$rid=1", b"{}")
@example(b"$dps/registrations/res/202/?$rid=1&retry-after=x", b"{}")
def test_dps_parse_response_any_topic_is_none_answer_or_value_error(topic, body):
    result = parse(ValueError, dps.dps_parse_response, topic, body)
    if result is REJECTED or result is None:
        return
    status, rid, retry_after, _document = result
    assert isinstance(status, int) and isinstance(rid, int)
    assert retry_after is None or isinstance(retry_after, int)


@given(st.sampled_from([200, 202, 400, 401, 404, 429, 500, 503]), RIDS, st.integers(0, 3600))
def test_dps_parse_response_reads_what_the_emulator_sends(status, rid, retry_after):
    topic = dps_topics.dps_response_topic(status, str(rid), retry_after).encode()
    assert dps.dps_parse_response(topic, b"{}") == (status, rid, retry_after, {})


@given(st.integers(min_value=-1000, max_value=1000), json_values)
@example(200, {"status": "assigned", "registrationState": {"assignedHub": 5}})
@example(200, {"status": "assigned", "registrationState": None})
@example(200, {"status": "assigned", "registrationState": [1]})
@example(200, {"status": "failed", "registrationState": "x"})
@example(200, {"status": "failed", "registrationState": {"errorMessage": "x" * 1000}})
def test_dps_outcome_any_document_is_wait_assigned_or_agent_error(status, document):
    result = parse(AgentError, dps.dps_outcome, status, document, "reg-1")
    if result is REJECTED:
        return
    assert result[0] in ("wait", "assigned")
    if result[0] == "assigned":
        assert all(isinstance(v, str) and v for v in result[1:])


@given(IDS, RIDS)
def test_dps_request_topics_are_what_the_emulator_parses(operation_id, rid):
    register = dps_topics.dps_parse_request_topic(dps.dps_register_topic(rid).decode())
    assert (register.kind, register.request_id) == ("register", str(rid))
    status = dps_topics.dps_parse_request_topic(dps.dps_status_topic(rid, operation_id).decode())
    assert (status.kind, status.request_id, status.operation_id) == (
        "operation-status",
        str(rid),
        operation_id,
    )


@given(IDS, IDS)
def test_dps_user_name_is_what_the_emulator_parses(id_scope, registration_id):
    parsed = dps_topics.dps_parse_user_name(provision._user_name(id_scope, registration_id))
    assert (parsed.id_scope, parsed.registration_id) == (id_scope, registration_id)
    assert parsed.query["api-version"] == "2019-03-31"


BASE = {"cert_file": "c", "key_file": "k", "dps": {"id_scope": "0ne00AB", "registration_id": "r"}}


@given(
    st.dictionaries(
        st.sampled_from(["id_scope", "registration_id", "endpoint", "port", "payload", "other"]),
        json_values,
        max_size=5,
    )
)
def test_config_validate_any_dps_section_is_values_or_agent_error(changes):
    raw = {**BASE, "dps": {**BASE["dps"], **changes}}
    result = parse(AgentError, config.config_validate, raw)
    if result is REJECTED:
        return
    assert result["hub_host"] is None
    assert result["device_id"] == result["dps"]["registration_id"]
    assert isinstance(result["dps"]["port"], int)
