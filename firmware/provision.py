# provision.py: one provisioning attempt. Connects to DPS with the device's own identity (the
# TLS context and credentials the hub connection uses), registers, polls the operation as DPS's
# retry-after says, and stores the assigned hub and device id on flash before anyone relies on
# them. Loaded for that one call (cold_call from agent.py) with dps.py, unloaded after; the
# session it opens is the one the hub connection then reuses (one 512-byte buffer).
import gc
import os
import time

from cold import cold_call
from errors import AgentError, error_explain
from micropython import const

_API_VERSION = const("2019-03-31")
_POLLS_MAX = const(20)  # operation-status requests in one attempt (DPS takes seconds, not minutes)
_PUBLISH = const(0x30)
_SUBACK = const(0x90)


def provision_run(agent):
    # -> (session, context, (hub host, device id) or None, error or None). The error was printed;
    # the caller backs off by its kind.
    c = agent.config
    d = c["dps"]
    session = agent._session
    context = agent._context
    if session is not None:
        session.close()
    gc.collect()
    try:
        agent.board.set_led(False)
        context, password, _ = cold_call("link", "link_prepare", c, agent.board, context, True)
        gc.collect()
        session = cold_call(
            "connect",
            "connect_session",
            session,
            c,
            context,
            (
                d["registration_id"],
                d["endpoint"],
                d["port"],
                _user_name(d["id_scope"], d["registration_id"]),
                password,
            ),
        )
        print(
            "agent: provisioning %s with DPS %s (scope %s)"
            % (d["registration_id"], d["endpoint"], d["id_scope"])
        )
        session.open(True)
        try:
            hub, device_id = _register(session, agent.board, d)
        finally:
            session.disconnect()
        gc.collect()  # the DPS connection's TLS buffers, before the file's
        provision_store(d, hub, device_id)
    except Exception as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        err = error_explain(exc, "provisioning")
        if session is not None:
            session.close()
        if "DPS" not in err.message:  # explain.py's texts speak of the hub and its settings
            err.message = (
                err.message.replace("the hub's", "DPS's")
                .replace("the hub", "DPS")
                .replace("hub_host", "dps.endpoint")
                .replace("hub_port", "dps.port")
            )
        print("agent: error: " + err.message)
        return session, context, None, err
    print("agent: provisioned %s: device %s at hub %s" % (d["registration_id"], device_id, hub))
    return session, context, (hub, device_id), None


def _user_name(id_scope, registration_id):
    # DPS's user name (no "?" before the query, unlike IoT Hub's). Here, not in dps.py: dps.py is
    # loaded after the TLS handshake, whose peak is the heap's tightest moment.
    return id_scope + "/registrations/" + registration_id + "/api-version=" + _API_VERSION


def provision_store(dps, hub, device_id, path=None):
    # Atomic where rename replaces (littlefs, the Unix port) and recoverable where it cannot
    # (FAT): PATH.tmp complete, then PATH removed, then renamed; config_assigned reads .tmp when
    # PATH is missing.
    import json

    path = path or dps["record_file"]  # config.py's ASSIGNED_FILE (importing it costs 4.5 KB)
    record = {
        "id_scope": dps["id_scope"],
        "registration_id": dps["registration_id"],
        "assigned_hub": hub,
        "device_id": device_id,
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(record))
    try:
        os.remove(path)
    except OSError:
        pass
    os.rename(tmp, path)


def _register(session, board, d):
    from dps import (
        dps_get_subscribe_filter,
        dps_outcome,
        dps_register_body,
        dps_register_topic,
        dps_retry_after_s,
        dps_status_topic,
    )

    registration_id = d["registration_id"]
    _subscribe(session, dps_get_subscribe_filter())
    register = dps_register_body(registration_id, d["payload"])
    rid = 1
    topic = dps_register_topic(rid)
    body = register
    operation = None
    polls = 0
    while True:
        session.publish(topic, body, False, 1)
        status, retry_after, document = _response(session, board, rid)
        outcome = dps_outcome(status, document, registration_id)
        if outcome[0] == "assigned":
            return outcome[1], outcome[2]
        operation = outcome[1] or operation
        polls += 1
        if polls > _POLLS_MAX:
            raise AgentError(
                "network", "DPS still assigning %r after %d polls" % (registration_id, _POLLS_MAX)
            )
        _wait(session, board, dps_retry_after_s(retry_after) * 1000)
        rid += 1
        if operation:
            topic = dps_status_topic(rid, operation)
            body = b""
        else:  # throttled before DPS took the registration: register again
            topic = dps_register_topic(rid)
            body = register


def _subscribe(session, topic_filter):
    from mqtt_connect import mqtt_parse_suback

    pid = session.subscribe((topic_filter,), 1)
    deadline = time.ticks_add(time.ticks_ms(), session.io_timeout_ms)
    while time.ticks_diff(deadline, time.ticks_ms()) > 0:
        packet = session.read_packet(time.ticks_diff(deadline, time.ticks_ms()))
        if packet is not None and packet[0] == _SUBACK:
            got, granted = mqtt_parse_suback(packet[1])
            if got == pid:
                if 0x80 in granted:
                    raise AgentError("protocol", "DPS refused the subscription to its responses")
                return
    raise AgentError("network", "no SUBACK from DPS within %d s" % (session.io_timeout_ms // 1000))


def _response(session, board, rid):
    # The response to request `rid`: (status, retry-after, document). Waits io_timeout for it.
    deadline = time.ticks_add(time.ticks_ms(), session.io_timeout_ms)
    while True:
        left = time.ticks_diff(deadline, time.ticks_ms())
        if left <= 0:
            raise AgentError(
                "network", "no answer from DPS within %d s" % (session.io_timeout_ms // 1000)
            )
        board.feed()
        answer = _read_response(session, min(left, 1000))
        if answer is not None and answer[1] == rid:
            return answer[0], answer[2], answer[3]


def _wait(session, board, ms):
    # retry-after: keep the link alive (answer what arrives, ping) and the watchdog fed.
    until = time.ticks_add(time.ticks_ms(), ms)
    while True:
        left = time.ticks_diff(until, time.ticks_ms())
        if left <= 0:
            return
        board.feed()
        _read_response(session, min(left, 1000))
        session.keepalive_service(time.ticks_ms())


def _read_response(session, wait_ms):
    # One packet: a DPS response (PUBACKed when QoS 1) -> (status, rid, retry-after, document);
    # anything else (PUBACK, PINGRESP) -> None.
    from dps import dps_parse_response
    from mqtt_packets import mqtt_parse_publish

    packet = session.read_packet(wait_ms)
    if packet is None or packet[0] & 0xF0 != _PUBLISH:
        return None
    if packet[2] > len(packet[1]):
        raise AgentError(
            "protocol",
            "DPS sent an answer of %d bytes (limit %d)" % (packet[2], session.max_incoming),
        )
    topic, pid, qos, payload = mqtt_parse_publish(packet[0], packet[1])
    answer = dps_parse_response(topic, payload)
    if qos:
        session.puback(pid)
    return answer
