# connect.py: one connection attempt (Wi-Fi, clock, TLS context, CONNECT, SUBSCRIBE, twin GET) and
# the backoff after a failure. Loaded by the agent only while connecting, then unloaded.
import time

import link
import mqtt_packets as mp
import topics
from errors import KIND_NETWORK, KIND_PROTOCOL, AgentError, _unload, error_explain


def connect(agent):
    c = agent.config
    try:
        agent.board.set_led(False)
        link.wifi_connect(
            agent.board, c["wifi_ssid"], c["wifi_password"], int(c["wifi_timeout_s"] * 1000)
        )
        link.clock_sync(c["ntp_host"])
        session = _make_session(agent)
        agent._session = session
        session.open(False)
        agent.connected = True
        agent._connected_at = time.ticks_ms()
        agent.outbox.inflight_reset()
        agent._inflight = {}
        agent._requests = {}
        _subscribe(agent, session)
        agent._twin_get()
        if agent._report:
            agent._send_report()
    except Exception as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        err = error_explain(exc, "connect")
        if agent._session is not None:
            agent._session.close()
        agent.connected = False
        agent.stats["connect_failures"] += 1
        agent.last_error = err.message
        print("agent: error: " + err.message)
        schedule(agent, err.kind, None)
        return None
    agent.stats["connects"] += 1
    if agent.stats["connects"] > 1:
        agent.stats["reconnects"] += 1
    agent.last_error = None
    agent.board.set_led(True)
    print(
        "agent: connected to %s:%d as %s (%s)"
        % (c["hub_host"], c["hub_port"], c["device_id"], c["auth"])
    )
    return agent._session


def schedule(agent, kind, connected_for_ms):
    from retry import retry_delay_for_error_ms, retry_next_attempt

    c = agent.config
    agent._attempt = retry_next_attempt(agent._attempt, connected_for_ms)
    delay = retry_delay_for_error_ms(
        kind,
        agent._attempt - 1,
        link.random_unit(),
        int(c["retry_min_s"] * 1000),
        int(c["retry_max_s"] * 1000),
        int(c["retry_auth_s"] * 1000),
    )
    _unload("retry")
    agent._next_connect = time.ticks_add(time.ticks_ms(), delay)
    print("agent: reconnecting in %d ms" % delay)


def _make_session(agent):
    import tls
    from session import Session, tls_load_context

    c = agent.config
    x509 = c["auth"] == "x509"
    if agent._context is None:
        trust = link.file_read(c["trust_file"])
        cert = link.file_read(c["cert_file"]) if x509 else None
        key = link.file_read(c["key_file"]) if x509 else None
        agent._context = tls_load_context(tls, cert, key, trust)
    password = None
    agent._sas_renew_at = None
    if not x509:
        from sas import sas_generate_token

        ttl = int(c["sas_ttl_s"])
        password = sas_generate_token(
            c["hub_host"], c["device_id"], c["sas_key"], link.unix_time() + ttl
        )
        _unload("sas")
        agent._sas_renew_at = time.ticks_add(time.ticks_ms(), (ttl - max(30, ttl // 10)) * 1000)
    user = topics.iothub_user_name(c["hub_host"], c["device_id"], c["model_id"])
    return Session(
        c["device_id"],
        c["hub_host"],
        c["hub_port"],
        user,
        password,
        c["keepalive_s"],
        agent._context,
        int(c.get("io_timeout_s", 20) * 1000),
        int(c.get("max_incoming", 16384)),
        not x509,
    )


def _subscribe(agent, session):
    # Clean session is off, but we subscribe after every connect anyway: cheap and certain.
    pid = session.subscribe_many(topics.subscribe_topics(agent.config["device_id"]), 1)
    deadline = time.ticks_add(time.ticks_ms(), session.io_timeout_ms)
    while True:
        left = time.ticks_diff(deadline, time.ticks_ms())
        if left <= 0:
            raise AgentError(
                KIND_NETWORK, "no SUBACK from the hub within %d s" % (session.io_timeout_ms // 1000)
            )
        packet = session.read_packet(left)
        if packet is None:
            continue
        if packet[0] == mp.TYPE_SUBACK:
            got, granted = mp.mqtt_parse_suback(packet[1])
            if got == pid:
                if 0x80 in granted:
                    raise AgentError(
                        KIND_PROTOCOL, "the hub refused a subscription (SUBACK %s)" % granted
                    )
                return
        else:
            agent._handle_packet(packet)
