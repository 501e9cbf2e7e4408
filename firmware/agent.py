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
# RAM: every function costs about 100 bytes of heap on top of its bytecode, so this module keeps
# only the hot path (send, the loop, PUBACKs). Connecting, losing the link, incoming PUBLISHes,
# the twin and a bad config run in modules loaded for one call and unloaded after (_cold).
import time

from errors import AgentError, _unload
from micropython import const
from topics import telemetry_get_publish_topic

_TYPE_CHECKING = const(0)
if _TYPE_CHECKING:  # pyright only (pyrightconfig.json defines it); compiled away on the board
    from typing import Any, Callable

    from board import Board
    from outbox_queue import Outbox
    from session import Session

_MESSAGE_MAX = const(262144)  # the hub's 256 KB limit, properties included
_WINDOW = const(8)  # QoS 1 publishes in flight at once
_PUBACK = const(0x40)
_PUBLISH = const(0x30)


def _load_config(path="config.json", raw=None):
    # config.py (and sas.py it uses) are needed once: unload them to give the RAM back.
    try:
        from config import config_load, config_validate

        return config_validate(raw) if raw is not None else config_load(path)
    finally:
        _unload("config")
        _unload("sas")


class Agent:
    # Set by agent_setup.agent_init (declared here for pyright; annotations cost no RAM).
    config: "Any"  # dict, or None without a valid config.json
    config_error: "AgentError | None"
    _config_path: str
    stats: dict
    connected: bool
    last_error: "str | None"
    twin: "dict | None"
    desired_version: int
    reported_version: "int | None"
    _methods: dict
    _c2d: "Callable | None"
    _desired: "Callable | None"
    _telemetry: "Callable | None"
    _session: "Session | None"
    _context: object
    _report: "dict | None"
    _sas_renew_at: "int | None"
    _inflight: dict
    _requests: "dict | None"
    _rid: int
    _acked_unreported: int
    _attempt: int
    _connected_at: int
    _seq: int
    _next_connect: "Any"  # time.ticks_ms() values
    _next_telemetry: "Any"
    board: "Board"
    outbox: "Outbox"
    _boot_id: str

    def __init__(self, config, config_error=None, path="config.json"):
        self._cold("agent_setup", "agent_init", config, config_error, path)

    @classmethod
    def from_config(cls, path="config.json"):
        try:
            return cls(_load_config(path), None, path)
        except AgentError as exc:
            print("agent: error: " + exc.message)
            return cls(None, exc, path)

    @classmethod
    def from_dict(cls, raw=None):
        return cls(_load_config(raw=raw))

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
        if self._report is None:
            self._report = {}
        for key in patch:
            self._report[key] = patch[key]
        if self.connected and self._requests is not None:  # else sent by twin_connected
            self._cold("twin", "twin_send_report")

    # -- loop ---------------------------------------------------------------------------------
    def run(self, until=None, for_ms=None):
        start = time.ticks_ms()
        if self.config is None:
            # A bad config never boot-loops the board: wait (Ctrl-C reaches the REPL), re-read it.
            for_ms = self._cold("config", "config_wait", until, for_ms, start)
            if for_ms is False:
                return
            start = time.ticks_ms()
        board = self.board
        board.start_watchdog()
        done = False
        try:
            while True:
                if until is not None and until():
                    break
                now = time.ticks_ms()
                left = 100 if for_ms is None else min(100, for_ms - time.ticks_diff(now, start))
                if left <= 0:
                    if done:
                        break
                    left = 0  # run(for_ms=0): one pass
                done = True
                board.feed()
                if self._telemetry is not None and time.ticks_diff(now, self._next_telemetry) >= 0:
                    try:
                        self._cold("incoming", "telemetry_tick")
                    except MemoryError:
                        print("agent: error: out of memory for the telemetry callback")
                        self._next_telemetry = time.ticks_add(now, 1000)
                if self.connected:
                    self._step(now, left)
                else:
                    wait = time.ticks_diff(self._next_connect, now)
                    if wait > 0:
                        if left > 0:
                            time.sleep_ms(min(wait, left, 100))
                    else:
                        self._cold("connect", "connect")
        except BaseException:
            # Ctrl-C or worse: the program is leaving the agent; what is unacked goes to flash.
            self.stop()
            raise
        # A normal return keeps the connection and what is in flight: the next run() goes on
        # waiting for those PUBACKs (re-sending them now would duplicate them on one link).

    def stop(self):
        # Before a deep sleep or power-off: wait up to 2 s for in-flight PUBACKs, DISCONNECT,
        # and put every unacked message on flash.
        if self.connected:
            self._settle()
        if self._session is not None:
            self._session.disconnect()
        self._set_disconnected()

    def _cold(self, name, fn, *args):
        # Run `name.fn(self, *args)` from a module loaded for this call only.
        try:
            return getattr(__import__(name), fn)(self, *args)
        except MemoryError:
            if name != "connect":
                raise
            # Not even the error path fits: say so, wait, try again (never crash the loop).
            if self._session is not None:
                self._session.close()
            self._set_disconnected()
            self.last_error = "out of memory while connecting"
            print("agent: error: out of memory while connecting: free RAM (smaller messages)")
            self._next_connect = time.ticks_add(time.ticks_ms(), 5000)
        finally:
            _unload(name)
            for other in (
                "link",
                "twin",
                "methods",
                "topic_parse",
                "retry",
                "sas",
                "mqtt_connect",
                "topics_connect",
            ):
                _unload(other)

    def _set_disconnected(self):
        self.connected = False
        self._inflight = {}
        if self.outbox is not None:
            self.outbox.inflight_reset()
            self.outbox.persist()
        if self.board is not None:
            self.board.set_led(False)

    def _step(self, now, left):
        session = self._session
        inflight = self._inflight
        try:
            if self._requests is None:  # just connected (connect.py)
                self._cold("twin", "twin_connected")
            if self._sas_renew_at is not None and time.ticks_diff(now, self._sas_renew_at) >= 0:
                print("agent: renewing the SAS token")
                session.disconnect()
                self._set_disconnected()
                self._next_connect = now
                return
            # Publish what waits, up to the window.
            while len(inflight) < _WINDOW:
                entry = self.outbox.next_unsent()
                if entry is None:
                    break
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
            self._cold("connect", "lost", exc)

    def _handle_packet(self, packet):
        kind = packet[0] & 0xF0
        body = packet[1]
        if kind == _PUBACK and len(body) >= 2:
            item = self._inflight.pop((body[0] << 8) | body[1], None)
            if item is not None:
                self.outbox.ack(item[0])
                self.stats["acked"] += 1
                self._acked_unreported += 1
        elif kind == _PUBLISH:
            # C2D, twin and method code is loaded per message (incoming.py).
            self._cold("incoming", "handle_publish", packet)
        # PINGRESP is handled by the session; SUBACK outside connect is ignored.

    def _settle(self):
        # Before returning from run(): give in-flight PUBACKs a moment, then leave cleanly.
        try:
            deadline = time.ticks_add(time.ticks_ms(), 2000)
            while self._inflight and time.ticks_diff(deadline, time.ticks_ms()) > 0:
                packet = self._session.read_packet(50)
                if packet is not None:
                    self._handle_packet(packet)
            if self._acked_unreported:
                print("agent: sent %d message(s)" % self._acked_unreported)
                self._acked_unreported = 0
        except Exception:
            pass
