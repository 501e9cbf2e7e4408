# connect.py: one connection attempt (Wi-Fi, clock, TLS context, CONNECT, SUBSCRIBE) and the
# backoff after a failure. Takes the agent's values, returns the new ones (the agent assigns
# them). Loaded for one call (cold.cold_call), unloaded after.
import gc
import time

from cold import cold_call
from errors import AgentError, error_explain
from micropython import const

_API_VERSION = const("2021-04-12")


def iothub_user_name(hub_host, device_id, model_id=None):
    user = hub_host + "/" + device_id + "/?api-version=" + _API_VERSION
    if model_id:
        from props import url_encode

        user += "&model-id=" + url_encode(model_id)
    return user


def connect_subscribe_filters(device_id):
    # Each feature owns its filters (c2d.py, methods.py, twin.py); one SUBSCRIBE carries them all.
    return (
        cold_call("c2d", "c2d_get_subscribe_filter", device_id),
        cold_call("methods", "methods_get_subscribe_filter"),
    ) + cold_call("twin", "twin_get_subscribe_filters")


def connect_open(agent, on_packet):
    # -> (session, context, sas_renew_at, error): the session (kept for good once made, reused by
    # every reconnect), the TLS context (built once), when to renew the SAS token (ticks; X.509:
    # unused) and None, or the AgentError that ended the attempt (already printed).
    # on_packet(packet, session) gets what arrives before the SUBACK (a queued C2D message, say).
    c = agent.config
    session = agent._session
    context = agent._context
    renew_at = 0
    if session is not None:
        # A reconnect must fit in the heap of the first connect: the old TLS socket goes first.
        session.close()
    gc.collect()
    try:
        # First, while the heap holds only the resident modules: each feature's module comes
        # and goes before the TLS handshake's peak.
        filters = connect_subscribe_filters(c["device_id"])
        agent.board.set_led(False)
        # link.py is gone (unloaded) before what lives on (the session, its buffer) is made.
        context, password, renew_at = cold_call("link", "link_prepare", c, agent.board, context)
        gc.collect()
        target = (
            c["device_id"],
            c["hub_host"],
            c["hub_port"],
            iothub_user_name(c["hub_host"], c["device_id"], c["model_id"]),
            password,
        )
        session = connect_session(session, c, context, target)
        session.open(False)
        _subscribe(session, filters, on_packet)
    except Exception as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        err = error_explain(exc, "connect")
        if session is not None:
            session.close()
        print("agent: error: " + err.message)
        return session, context, renew_at, err
    print(
        "agent: connected to %s:%d as %s (%s)"
        % (c["hub_host"], c["hub_port"], c["device_id"], c["auth"])
    )
    return session, context, renew_at, None


def connect_backoff(config, kind, attempt, connected_for_ms):
    # After a failed connect (connected_for_ms -1) or a lost connection: -> (attempt, delay_ms).
    from link import random_unit
    from retry import retry_delay_for_error_ms, retry_describe_ms, retry_next_attempt

    attempt = retry_next_attempt(attempt, connected_for_ms)
    delay = retry_delay_for_error_ms(
        kind,
        attempt - 1,
        random_unit(),
        int(config["retry_min_s"] * 1000),
        int(config["retry_max_s"] * 1000),
        int(config["retry_auth_s"] * 1000),
    )
    print("agent: retrying in " + retry_describe_ms(delay))
    return attempt, delay


def connect_session(session, c, context, target):
    # The session to `target` (client id, host, port, user name, password): the one made by the
    # first connect (to the hub or to DPS), pointed there; a new Session (its 512-byte buffer)
    # may not fit any more in a heap that the first connection left in pieces.
    client_id, server, port, user, password = target
    if session is None:
        from session import Session

        return Session(
            client_id,
            server,
            port,
            user,
            password,
            c["keepalive_s"],
            context,
            int(c["io_timeout_s"] * 1000),
            int(c["max_incoming"]),
        )
    session.client_id = client_id
    session.server = server
    session.port = port
    session.user = user
    session.password = password
    session.context = context
    return session


def _subscribe(session, filters, on_packet):
    # Clean session is off, but we subscribe after every connect anyway: cheap and certain.
    from mqtt_connect import mqtt_parse_suback

    pid = session.subscribe(filters, 1)
    deadline = time.ticks_add(time.ticks_ms(), session.io_timeout_ms)
    while True:
        left = time.ticks_diff(deadline, time.ticks_ms())
        if left <= 0:
            raise AgentError(
                "network", "no SUBACK from the hub within %d s" % (session.io_timeout_ms // 1000)
            )
        packet = session.read_packet(left)
        if packet is None:
            continue
        if packet[0] == 0x90:  # SUBACK
            got, granted = mqtt_parse_suback(packet[1])
            if got == pid:
                if 0x80 in granted:
                    raise AgentError(
                        "protocol", "the hub refused a subscription (SUBACK %s)" % granted
                    )
                return
        else:
            on_packet(packet, session)
