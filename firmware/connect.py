# connect.py: one connection attempt (Wi-Fi, clock, TLS context, CONNECT, SUBSCRIBE, twin GET), the
# end of a connection, and the backoff after either. Loaded by the agent only for that, then
# unloaded (agent._cold).
import gc
import time

from errors import AgentError, _unload, error_explain


def connect(agent):
    c = agent.config
    session = agent._session
    if session is not None:
        # A reconnect must fit in the heap of the first connect: the old TLS socket goes first.
        session.close()
    gc.collect()
    try:
        agent.board.set_led(False)
        import link

        link.wifi_connect(
            agent.board, c["wifi_ssid"], c["wifi_password"], int(c["wifi_timeout_s"] * 1000)
        )
        link.clock_sync(c["ntp_host"])
        password = _credentials(agent, link)
        # RAM: what lives on (the session, its buffer) is allocated after link.py is gone.
        del link
        _unload("link")
        gc.collect()
        if session is None:
            session = agent._session = _make_session(agent, password)
        else:
            # Reused: a new Session (its 512-byte buffer) may not fit any more in a heap that
            # the first connection left in pieces.
            session.pswd = password
        session.open(False)
        agent.connected = True
        agent._connected_at = time.ticks_ms()
        agent.outbox.inflight_reset()
        agent._inflight = {}
        _subscribe(agent, session)
        # None: the twin GET (and the reported properties kept offline) are still to be sent;
        # the agent does it once this module is unloaded (twin.twin_connected).
        agent._requests = None
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
        return
    agent.stats["connects"] += 1
    if agent.stats["connects"] > 1:
        agent.stats["reconnects"] += 1
    agent.last_error = None
    agent.board.set_led(True)
    print(
        "agent: connected to %s:%d as %s (%s)"
        % (c["hub_host"], c["hub_port"], c["device_id"], c["auth"])
    )


def lost(agent, exc):
    # The session failed while connected: close it, keep the queue, plan the reconnect.
    err = error_explain(exc, "session")
    connected_for = time.ticks_diff(time.ticks_ms(), agent._connected_at)
    if agent._session is not None:
        agent._session.close()
    agent._set_disconnected()
    agent.last_error = err.message
    print("agent: disconnected: " + err.message)
    schedule(agent, err.kind, connected_for)


def schedule(agent, kind, connected_for_ms):
    from link import random_unit
    from retry import retry_delay_for_error_ms, retry_next_attempt

    c = agent.config
    agent._attempt = retry_next_attempt(agent._attempt, connected_for_ms)
    delay = retry_delay_for_error_ms(
        kind,
        agent._attempt - 1,
        random_unit(),
        int(c["retry_min_s"] * 1000),
        int(c["retry_max_s"] * 1000),
        int(c["retry_auth_s"] * 1000),
    )
    agent._next_connect = time.ticks_add(time.ticks_ms(), delay)
    print("agent: reconnecting in %d ms" % delay)


def tls_load_context(tls, cert, key, trust):
    # cert/key: PEM or DER bytes (None for SAS); trust: PEM bundle. Always CERT_REQUIRED.
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if cert is not None and key is not None:
        try:
            ctx.load_cert_chain(cert, key)
        except MemoryError:
            raise
        except Exception as exc:
            err = error_explain(exc, "loading of the credentials")
            if err.kind != "config":
                err = AgentError(
                    "config",
                    "cannot load the device certificate and key (%s): check cert_file and "
                    "key_file (PEM or DER, matching pair)" % exc,
                )
            raise err
    try:
        ctx.load_verify_locations(trust)
    except MemoryError:
        raise
    except Exception as exc:
        raise AgentError(
            "config", "cannot load the trust bundle (%s): check trust_file (PEM roots)" % exc
        )
    ctx.verify_mode = tls.CERT_REQUIRED
    return ctx


def _credentials(agent, link):
    # The TLS context (built once, kept by the agent) and the SAS token (None for X.509).
    c = agent.config
    x509 = c["auth"] == "x509"
    if agent._context is None:
        import tls

        gc.collect()
        trust = link.file_read(c["trust_file"])
        cert = link.file_read(c["cert_file"]) if x509 else None
        key = link.file_read(c["key_file"]) if x509 else None
        agent._context = tls_load_context(tls, cert, key, trust)
    agent._sas_renew_at = None
    if x509:
        return None
    from sas import sas_generate_token, sas_renew_after_ms

    ttl = int(c["sas_ttl_s"])
    agent._sas_renew_at = time.ticks_add(time.ticks_ms(), sas_renew_after_ms(ttl))
    return sas_generate_token(c["hub_host"], c["device_id"], c["sas_key"], link.unix_time() + ttl)


def _make_session(agent, password):
    from session import Session
    from topics_connect import iothub_user_name

    c = agent.config
    user = iothub_user_name(c["hub_host"], c["device_id"], c["model_id"])
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
        password is not None,
    )


def _subscribe(agent, session):
    # Clean session is off, but we subscribe after every connect anyway: cheap and certain.
    from mqtt_connect import mqtt_parse_suback
    from topics_connect import subscribe_topics

    pid = session.subscribe(None, 1, subscribe_topics(agent.config["device_id"]))
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
            agent._handle_packet(packet)
