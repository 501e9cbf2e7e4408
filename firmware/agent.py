# agent.py: the device agent's loop. Connects (Wi-Fi, clock, TLS, MQTT), keeps the session alive,
# delivers queued telemetry, dispatches C2D / twin / method messages to the user's handlers,
# reconnects with backoff, feeds the watchdog. Prints one `agent:` line per event a human
# cares about.
#
#   agent = Agent.from_config()              # or Agent.from_config(path="config.json")
#   agent.on_method("reboot", fn)            # fn(payload) -> result | (status, result)
#   agent.on_c2d(fn)                         # fn(body: bytes, properties: dict)
#   agent.on_desired(fn)                     # fn(patch: dict, version: int)
#   agent.on_telemetry(fn)                   # fn() -> dict or None, every telemetry_interval_s
#   agent.send({...}, properties={...})      # queued, QoS 1
#   agent.report({...})                      # reported properties
#   agent.run(until=None, for_ms=None)      # returning keeps the link and the in-flight window
#   agent.stop()                             # before deep sleep: PUBACKs, DISCONNECT, rest to flash
# Hooks for tests: agent.stats (dict of counters), agent.connected, agent.last_error, agent.twin.
#
# State: agent.py is the only module that assigns the agent's attributes. The modules loaded for
# one call (cold.cold_call: connect.py, incoming.py, twin.py, ...) read what they need from the
# agent and return values; the agent assigns them. The link is in one of three states (_DOWN,
# _TWIN_DUE, _UP, below).
#
# RAM: every function costs about 100 bytes of heap on top of its bytecode, so this module keeps
# only the hot path (send, the loop, PUBACKs). Connecting, incoming PUBLISHes, the twin and the
# backoff run in modules loaded for one call and unloaded after. What lives for good is imported
# here, at the top: never first inside a cold call, which would unload it again.
import time

from board import Board
from cold import cold_call
from errors import AgentError, error_explain
from micropython import const
from outbox_queue import Outbox
from session import Session  # noqa: F401  resident once connected; loaded first: low in the heap
from telemetry import telemetry_get_publish_topic

_MESSAGE_MAX = const(262144)  # the hub's 256 KB limit, properties included
_WINDOW = const(8)  # QoS 1 publishes in flight at once
_PUBACK = const(0x40)
_PUBLISH = const(0x30)
_PASS_MS = const(100)  # longest wait in one pass of the loop
_SETTLE_MS = const(2000)  # stop(): how long in-flight PUBACKs may take
_CONFIG_REREAD_MS = const(30000)  # no valid config.json: read it again this often
_MEMORY_RETRY_MS = const(5000)  # not even the backoff fits in RAM: try again after this
_TELEMETRY_RETRY_MS = const(1000)  # no RAM for the telemetry callback: try again after this
_SELFCHECK_AFTER = const(3)  # failed connects in a row before the board checks itself, once

# The link: down (a connect is due at _next_connect), up with the twin GET and the reported
# properties kept offline still to send, or up.
_DOWN = const(0)
_TWIN_DUE = const(1)
_UP = const(2)


class Agent:
    def __init__(self, config, config_error=None, path="config.json"):
        self.config = config  # dict, or None without a valid config.json
        self.config_error = config_error
        self._config_path = path
        self.stats = {}
        for key in (
            "queued sent acked dropped reconnects connects connect_failures c2d methods desired"
            " pings provisions"
        ).split():
            self.stats[key] = 0
        self._link = _DOWN
        self.connected = False  # self._link != _DOWN, for the application
        self.last_error = None
        self.twin = None  # {"desired": ..., "reported": ...} from the last full GET
        self.desired_version = -1
        self.reported_version = None  # from the last 204
        self._methods = {}
        self._c2d = self._desired = self._telemetry = None  # the application's handlers
        self._session = None  # made by the first connect, reused by every later one
        self._context = None  # the TLS context, built once
        self._sas_renew_at = 0  # SAS only: when to reconnect with a new token (ticks)
        self._inflight = {}  # packet id -> (outbox entry, ticks sent)
        self._twin_requests = {}  # request id -> "get" or the reported patch sent
        self._twin_report = {}  # reported properties still to send
        self._rid = self._acked_unreported = self._attempt = self._connected_at = self._seq = 0
        self._failed_in_row = 0  # connects that failed since the last one that worked
        # DPS only: ask DPS again before the next connect (the assigned hub refused the device),
        # and the topic prefix of the device id DPS assigned (messages queued under another id
        # are published under this one).
        self._provision_due = False
        self._topic_prefix = None
        self._next_connect = self._next_telemetry = time.ticks_ms()
        self.board = None
        self.outbox = None
        import binascii
        import os

        # Message ids are "{boot id}-{sequence}": unique across reboots, the same when resent.
        self._boot_id = binascii.hexlify(os.urandom(4)).decode()
        if config:
            self._prepare()

    def _prepare(self):
        c = self.config
        self.board = Board(c["watchdog_s"], c["led_pin"], c["led_active_low"])
        self.outbox = Outbox(c["outbox_dir"], c["outbox_max"], c["outbox_policy"])
        if c["dps"] is not None:
            self._topic_prefix = ("devices/%s/" % c["device_id"]).encode()
        if len(self.outbox):
            print("agent: outbox holds %d message(s) from before" % len(self.outbox))

    @classmethod
    def from_config(cls, path="config.json"):
        try:
            return cls(cold_call("config", "config_load", path), None, path)
        except AgentError as exc:
            print("agent: error: " + exc.message)
            return cls(None, exc, path)

    @classmethod
    def from_dict(cls, raw=None):
        return cls(cold_call("config", "config_validate", raw))

    # -- user API -----------------------------------------------------------------------------
    def on_method(self, name, fn):
        self._methods[name] = fn

    def on_c2d(self, fn):
        self._c2d = fn

    def on_desired(self, fn):
        self._desired = fn

    def on_telemetry(self, fn):
        self._telemetry = fn
        self._next_telemetry = time.ticks_ms()

    def send(self, body, properties=None):
        # Queue one telemetry message (QoS 1). Raises AgentError for a message over 256 KB.
        outbox = self.outbox
        if outbox is None:
            raise self.config_error or AgentError("config", "no configuration")
        if isinstance(body, (bytes, bytearray)):
            payload = bytes(body)
        elif isinstance(body, str):
            payload = body.encode()
        else:
            import json

            payload = json.dumps(body).encode()
        dropped = outbox.take_dropped()
        if dropped:
            properties = dict(properties) if properties else {}
            properties["outbox-dropped"] = str(dropped)
        self._seq += 1
        mid = "%s-%d" % (self._boot_id, self._seq)
        topic = telemetry_get_publish_topic(self.config["device_id"], properties, mid)
        size = len(topic) + len(payload)
        if size > _MESSAGE_MAX:
            raise AgentError(
                "too_large", "message of %d bytes is over the hub's 256 KB limit: split it" % size
            )
        before = outbox.dropped_total
        stored = outbox.put(topic, payload, self.connected)
        lost = outbox.dropped_total - before
        if lost:
            self.stats["dropped"] += lost
            print(
                "agent: outbox full (%d): dropped %d message(s) (%s)"
                % (outbox.max_messages, lost, outbox.policy)
            )
        if stored:
            self.stats["queued"] += 1
            return mid

    def report(self, patch):
        # Reported properties: merged while offline, sent on (re)connect.
        for key in patch:
            self._twin_report[key] = patch[key]
        if self._link == _UP:  # else sent with the twin GET after the connect
            self._twin_send(False)

    def _twin_send(self, get):
        self._twin_requests, self._twin_report, self._rid = cold_call(
            "twin",
            "twin_send",
            self._session,
            self._twin_requests,
            self._twin_report,
            self._rid,
            get,
        )

    # -- loop ---------------------------------------------------------------------------------
    def run(self, until=None, for_ms=None):
        start = time.ticks_ms()
        while self.config is None:
            # A bad config never boot-loops the board: wait (Ctrl-C reaches the REPL), re-read it.
            if until is not None and until():
                return
            wait = 200
            if for_ms is not None:
                wait = min(wait, for_ms - time.ticks_diff(time.ticks_ms(), start))
                if wait <= 0:
                    return
            time.sleep_ms(wait)
            if time.ticks_diff(time.ticks_ms(), self._next_connect) >= 0:
                self._next_connect = time.ticks_add(time.ticks_ms(), _CONFIG_REREAD_MS)
                self._reload_config()
        board = self.board
        board.start_watchdog()
        done = False
        try:
            while True:
                if until is not None and until():
                    break
                now = time.ticks_ms()
                left = _PASS_MS
                if for_ms is not None:
                    left = min(_PASS_MS, for_ms - time.ticks_diff(now, start))
                if left <= 0:
                    if done:
                        break
                    left = 0  # run(for_ms=0): one pass
                done = True
                board.feed()
                fn = self._telemetry
                if fn is not None and time.ticks_diff(now, self._next_telemetry) >= 0:
                    self._telemetry_tick(now, fn)
                if self._link != _DOWN:
                    self._step(now, left)
                else:
                    wait = time.ticks_diff(self._next_connect, now)
                    if wait > 0:
                        if left > 0:
                            time.sleep_ms(min(wait, left))
                    else:
                        self._connect()
        except BaseException:
            # Ctrl-C or worse: the program is leaving the agent; what is unacked goes to flash.
            self.stop()
            raise
        # A normal return keeps the connection and what is in flight: the next run() goes on
        # waiting for those PUBACKs (re-sending them now would duplicate them on one link).

    def _reload_config(self):
        try:
            self.config = cold_call("config", "config_load", self._config_path)
        except AgentError as exc:
            if exc.message != (self.config_error and self.config_error.message):
                print("agent: error: " + exc.message)
            self.config_error = exc
            return
        self.config_error = None
        self._prepare()

    def stop(self):
        # Before a deep sleep or power-off: wait up to 2 s for in-flight PUBACKs, DISCONNECT,
        # and put every unacked message on flash.
        if self._link != _DOWN:
            self._settle()
        if self._session is not None:
            self._session.disconnect()
        self._set_down()

    def _set_link(self, link):
        self._link = link
        self.connected = link != _DOWN

    def _set_down(self):
        self._set_link(_DOWN)
        self._inflight = {}
        if self.outbox is not None:
            self.outbox.inflight_reset()
            self.outbox.persist()
        if self.board is not None:
            self.board.set_led(False)

    def _connect(self):
        c = self.config
        dps = c["dps"] is not None
        try:
            err = None
            if dps and (c["hub_host"] is None or self._provision_due):
                self._session, self._context, assigned, err = cold_call(
                    "provision", "provision_run", self
                )
                if err is None:
                    self._provision_due = False
                    self.stats["provisions"] += 1
                    c["hub_host"], c["device_id"] = assigned
                    self._topic_prefix = ("devices/%s/" % assigned[1]).encode()
            if err is None:
                self._session, self._context, self._sas_renew_at, err = cold_call(
                    "connect", "connect_open", self, self._handle_packet
                )
                if dps and err is not None and err.kind == "auth" and err.code in (4, 5):
                    # Deleted from the hub, or moved: DPS knows. Asked after the backoff, so at
                    # most once per backoff period.
                    self._provision_due = True
                    print("agent: the hub refused the device: asking DPS again before the next try")
        except MemoryError:
            # Not even the error path fits: say so, wait, try again (never crash the loop).
            if self._session is not None:
                self._session.close()
            self._set_down()
            self.last_error = "out of memory while connecting"
            print("agent: error: out of memory while connecting: free RAM (smaller messages)")
            self._next_connect = time.ticks_add(time.ticks_ms(), _MEMORY_RETRY_MS)
            return
        if err is not None:
            self.stats["connect_failures"] += 1
            self._failed_in_row += 1
            if self._failed_in_row == _SELFCHECK_AFTER:
                try:  # what the board can check itself, once per run of failures
                    cold_call("selfcheck", "selfcheck_print", self.config)
                except Exception as exc:  # a check that cannot run must not cost the retry
                    print("agent: check skipped: %r" % (exc,))
            self._back_off(err, -1)
            return
        self._failed_in_row = 0
        self._set_link(_TWIN_DUE)
        self._connected_at = time.ticks_ms()
        self._twin_requests = {}
        # The twin document this connection GETs is the truth: a device deleted and created
        # again (DPS, or by hand) starts its versions again, below the one applied last.
        self.desired_version = -1
        self.stats["connects"] += 1
        if self.stats["connects"] > 1:
            self.stats["reconnects"] += 1
        self.last_error = None
        self.board.set_led(True)

    def _lost(self, exc):
        # The session failed while connected: close it, keep the queue, plan the reconnect.
        err = error_explain(exc, "session")
        connected_for = time.ticks_diff(time.ticks_ms(), self._connected_at)
        self._session.close()
        self._set_down()
        print("agent: disconnected: " + err.message)
        self._back_off(err, connected_for)

    def _back_off(self, err, connected_for):
        self.last_error = err.message
        try:
            self._attempt, delay = cold_call(
                "connect", "connect_backoff", self.config, err.kind, self._attempt, connected_for
            )
        except MemoryError:
            delay = _MEMORY_RETRY_MS
        self._next_connect = time.ticks_add(time.ticks_ms(), delay)

    def _telemetry_tick(self, now, fn):
        # Due: schedule the next one (missed ones are skipped), call the application's function,
        # queue its dict.
        interval = int(self.config["telemetry_interval_s"] * 1000)
        due = time.ticks_add(self._next_telemetry, interval)
        self._next_telemetry = (
            due if time.ticks_diff(now, due) <= 0 else time.ticks_add(now, interval)
        )
        try:
            body = fn()
            if body is not None:
                self.send(body)
        except MemoryError:
            print("agent: error: out of memory for the telemetry callback")
            self._next_telemetry = time.ticks_add(now, _TELEMETRY_RETRY_MS)
        except Exception as exc:
            print("agent: error: telemetry callback failed: %s: %s" % (type(exc).__name__, exc))

    def _step(self, now, left):
        session = self._session
        inflight = self._inflight
        try:
            if self._link == _TWIN_DUE:  # just connected (connect.py is unloaded by now)
                self._twin_send(True)
                self._set_link(_UP)
            if self.config["auth"] == "sas" and time.ticks_diff(now, self._sas_renew_at) >= 0:
                print("agent: renewing the SAS token")
                session.disconnect()
                self._set_down()
                self._next_connect = now
                return
            # Publish what waits, up to the window.
            while len(inflight) < _WINDOW:
                entry = self.outbox.next_unsent()
                if entry is None:
                    break
                prefix = self._topic_prefix
                if prefix is not None and not entry[0].startswith(prefix):
                    # queued before DPS assigned another device id: "devices/{id}/messages/..."
                    topic = entry[0]
                    entry[0] = prefix + topic[topic.find(b"/messages/") + 1 :]
                pid = session.publish(entry[0], entry[1], False, 1, entry[4])
                entry[2] = pid
                inflight[pid] = (entry, now)
                self.stats["sent"] += 1
            packet = session.read_packet(left)
            count = 0
            while packet is not None and count < 16:
                self._handle_packet(packet)
                count += 1
                packet = session.read_packet(0)
            # Judged after reading what has arrived (the application may not have called run()
            # for a while): a PUBACK that does not come within io_timeout means a half-open link.
            now = time.ticks_ms()
            limit = session.io_timeout_ms
            for pid in inflight:
                if time.ticks_diff(now, inflight[pid][1]) > limit:
                    raise AgentError(
                        "network", "no PUBACK within %d s: the link is dead" % (limit // 1000)
                    )
            pinged = session.ping_sent_at
            session.keepalive_service(now)
            if pinged is None and session.ping_sent_at is not None:
                self.stats["pings"] += 1
            if self._acked_unreported and not self._inflight:
                print("agent: sent %d message(s)" % self._acked_unreported)
                self._acked_unreported = 0
        except Exception as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._lost(exc)

    def _handle_packet(self, packet, session=None):
        # session: given by connect.py while it waits for the SUBACK (not yet the agent's).
        kind = packet[0] & 0xF0
        body = packet[1]
        if kind == _PUBACK and len(body) >= 2:
            item = self._inflight.pop((body[0] << 8) | body[1], None)
            if item is not None:
                self.outbox.ack(item[0])
                self.stats["acked"] += 1
                self._acked_unreported += 1
        elif kind == _PUBLISH:
            # C2D, twin and method code is loaded per message (incoming.py), also while
            # connect.py waits for the SUBACK: cold calls nest.
            (
                counter,
                self.twin,
                self.desired_version,
                self.reported_version,
                self._twin_report,
                self._twin_requests,
            ) = cold_call("incoming", "incoming_handle", self, session or self._session, packet)
            if counter in self.stats:
                self.stats[counter] += 1
        # PINGRESP is handled by the session; SUBACK outside connect is ignored.

    def _settle(self):
        # Before returning from run(): give in-flight PUBACKs a moment, then leave cleanly.
        try:
            deadline = time.ticks_add(time.ticks_ms(), _SETTLE_MS)
            while self._inflight and time.ticks_diff(deadline, time.ticks_ms()) > 0:
                packet = self._session.read_packet(50)
                if packet is not None:
                    self._handle_packet(packet)
            if self._acked_unreported:
                print("agent: sent %d message(s)" % self._acked_unreported)
                self._acked_unreported = 0
        except Exception:
            pass
