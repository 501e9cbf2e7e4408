# incoming.py: what arrives besides PUBACKs (C2D, twin, methods) and the telemetry callback.
# Loaded by the agent for one message or one tick and unloaded after: rare compared with sending.
# The chain of parsers is the Azure embedded SDK's: C2D, then methods, then twin.
import time

from mqtt_packets import mqtt_parse_publish


def handle_publish(agent, packet):
    first, body, length = packet
    session = agent._session
    topic, pid, qos, payload = mqtt_parse_publish(first, body)
    try:
        if length > len(body):
            print(
                "agent: error: dropped an incoming message of %d bytes on %s (limit %d)"
                % (length, _text(topic), session.max_incoming)
            )
        else:
            _dispatch(agent, topic, payload)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        print("agent: error: malformed message on %s: %s" % (_text(topic), exc))
    finally:
        if qos == 1 and agent._session is not None and agent._session.sock is not None:
            session.puback(pid)


def _dispatch(agent, topic, payload):
    from topic_parse import c2d_parse_received_topic

    props = c2d_parse_received_topic(agent.config["device_id"], topic)
    if props is not None:
        agent.stats["c2d"] += 1
        if agent._c2d is None:
            print("agent: c2d message received (no handler)")
            return
        try:
            agent._c2d(bytes(payload), props)
        except Exception as exc:
            print("agent: error: c2d handler failed: %s: %s" % (type(exc).__name__, exc))
        return
    if topic.startswith(b"$iothub/methods/"):
        from methods import method_handle as handle
    elif topic.startswith(b"$iothub/twin/"):
        from twin import twin_handle as handle
    else:
        handle = None
    if handle is None or not handle(agent, topic, payload):
        print("agent: ignored a message on " + _text(topic))


def _text(topic):
    # For our lines only: a hub (or a man in the middle past TLS) may send any bytes.
    try:
        return topic.decode()
    except ValueError:  # UnicodeError
        return repr(topic)


def telemetry_tick(agent):
    # Due: schedule the next one (skipping missed ones), call the user's function, queue its dict.
    now = time.ticks_ms()
    interval = int(agent.config["telemetry_interval_s"] * 1000)
    agent._next_telemetry = time.ticks_add(agent._next_telemetry, interval)
    if time.ticks_diff(now, agent._next_telemetry) > 0:
        agent._next_telemetry = time.ticks_add(now, interval)
    try:
        body = agent._telemetry()
    except Exception as exc:
        print("agent: error: telemetry callback failed: %s: %s" % (type(exc).__name__, exc))
        return
    if body is not None:
        try:
            agent.send(body)
        except Exception as exc:
            print("agent: error: %s" % exc)
