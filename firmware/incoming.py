# incoming.py: the dispatcher of incoming PUBLISHes. The chain of the Azure SDK for C: C2D, then
# methods, then twin; each feature's module recognises its own topics (c2d.py, methods.py,
# twin.py), and each is loaded in turn for this one message and unloaded after. Takes the agent's
# values, returns its new ones: the agent assigns them (agent.py).
from cold import cold_call
from mqtt_packets import mqtt_parse_publish


def incoming_handle(agent, session, packet):
    # -> (counter, twin, desired_version, reported_version, twin_report, twin_requests): the stats
    # counter to bump ("" for none) and the agent's twin values, new or as they were.
    first, body, length = packet
    topic, pid, qos, payload = mqtt_parse_publish(first, body)
    result = (
        "",
        agent.twin,
        agent.desired_version,
        agent.reported_version,
        agent._twin_report,
        agent._twin_requests,
    )
    try:
        if length > len(body):
            print(
                "agent: error: dropped an incoming message of %d bytes on %s (limit %d)"
                % (length, _text(topic), session.max_incoming)
            )
        else:
            result = _dispatch(agent, session, result, topic, payload)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        print("agent: error: malformed message on %s: %s" % (_text(topic), exc))
    finally:
        if qos == 1 and session.sock is not None:
            session.puback(pid)
    return result


def _dispatch(agent, session, result, topic, payload):
    if cold_call("c2d", "c2d_handle", agent.config["device_id"], agent._c2d, topic, payload):
        return ("c2d",) + result[1:]
    if cold_call("methods", "methods_handle", session, agent._methods, topic, payload):
        return ("methods",) + result[1:]
    twin = cold_call("twin", "twin_handle", agent, session, topic, payload)
    if twin[0]:
        return twin
    print("agent: ignored a message on " + _text(topic))
    return result


def _text(topic):
    # For our lines only: a hub (or a man in the middle past TLS) may send any bytes.
    try:
        return topic.decode()
    except ValueError:  # UnicodeError
        return repr(topic)
