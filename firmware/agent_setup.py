# agent_setup.py: the Agent's start-up, run once: its attributes, then the session's modules, the
# board and the queue. RAM: a module of its own so that this code leaves the heap once the agent
# exists (Agent.__init__ runs it through Agent._cold, which unloads it).
import time


def agent_init(agent, config, config_error, path):
    agent.config = config
    agent.config_error = config_error
    agent._config_path = path
    agent.stats = {}
    for key in (
        "queued sent acked dropped reconnects connects connect_failures c2d methods desired pings"
    ).split():
        agent.stats[key] = 0
    agent.connected = False
    agent.last_error = None
    agent.twin = None
    agent.desired_version = -1
    agent.reported_version = None
    agent._methods = {}
    agent._c2d = agent._desired = agent._telemetry = None
    agent._session = agent._context = agent._report = agent._sas_renew_at = None
    agent._inflight = {}
    agent._requests = {}
    agent._rid = agent._acked_unreported = agent._attempt = agent._connected_at = agent._seq = 0
    agent._next_connect = agent._next_telemetry = time.ticks_ms()
    agent.board = agent.outbox = None
    import binascii
    import os

    # Message ids are "{boot id}-{sequence}": unique across reboots, the same when resent.
    agent._boot_id = binascii.hexlify(os.urandom(4)).decode()
    if config:
        agent_prepare(agent)


def agent_prepare(agent):
    # Run once config.py has been unloaded, so the peak at boot stays low.
    # RAM: the session's modules (with umqtt.simple) live for good once connected. Loaded now,
    # they sit low in the heap, not among the holes the first connect leaves (connect.py,
    # link.py, the TLS handshake's buffers), where the twin module could not be loaded after.
    import session  # noqa: F401
    from board import Board
    from outbox_queue import Outbox

    c = agent.config
    agent.board = Board(c["watchdog_s"], c["led_pin"], c["led_active_low"])
    agent.outbox = Outbox(c["outbox_dir"], c["outbox_max"], c["outbox_policy"])
    if len(agent.outbox):
        print("agent: outbox holds %d message(s) from before" % len(agent.outbox))
