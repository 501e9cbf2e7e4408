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
#   agent.run(until=None, for_ms=None)
# Hooks for tests: agent.stats (dict of counters), agent.connected, agent.last_error, agent.twin.
import json
import time

import mqtt_packets as mp
import topics
from errors import KIND_CONFIG, KIND_TOO_LARGE, AgentError, _unload, error_explain
from micropython import const

MESSAGE_MAX_BYTES = const(262144)  # the hub's 256 KB limit, properties included
_WINDOW = const(8)  # QoS 1 publishes in flight at once
_CONFIG_RETRY_MS = const(30000)


def _say(text):
    print("agent: " + text)


def _boot_id():
    # Message ids are "{boot id}-{sequence}": unique across reboots, the same when resent.
    import binascii
    import os

    return binascii.hexlify(os.urandom(4)).decode()


def _load_config(path="config.json", raw=None):
    # config.py (and sas.py it uses) are needed once: unload them to give the RAM back.
    try:
        from config import config_load, config_validate

        return config_validate(raw) if raw is not None else config_load(path)
    finally:
        _unload("config")
        _unload("sas")


class Agent:
    def __init__(self, config, config_error=None):
        self.config = config
        self.config_error = config_error
        self.stats = {
            "queued": 0,
            "sent": 0,
            "acked": 0,
            "dropped": 0,
            "reconnects": 0,
            "connects": 0,
            "connect_failures": 0,
            "c2d": 0,
            "methods": 0,
            "desired": 0,
            "pings": 0,
        }
        self.connected = False
        self.last_error = None
        self.twin = None
        self.desired_version = -1
        self.reported_version = None
        self.telemetry_interval_s = config["telemetry_interval_s"] if config else 60
        self._methods = {}
        self._c2d = None
        self._desired = None
        self._telemetry = None
        self._session = None
        self._context = None
        self._inflight = {}
        self._requests = {}
        self._rid = 0
        self._report = None
        self._acked_unreported = 0
        self._attempt = 0
        self._next_connect = time.ticks_ms()
        self._connected_at = 0
        self._sas_renew_at = None
        self._next_telemetry = None
        self._seq = 0
        self._boot_id = _boot_id()
        self.board = None
        self.outbox = None
        self._config_path = "config.json"
        if config:
            self._prepare()

    @classmethod
    def from_config(cls, path="config.json"):
        try:
            config = _load_config(path)
        except AgentError as exc:
            _say("error: " + exc.message)
            agent = cls(None, exc)
            agent._config_path = path
            return agent
        agent = cls(config)
        agent._config_path = path
        return agent

    @classmethod
    def from_dict(cls, raw=None):
        return cls(_load_config(raw=raw))

    def _prepare(self):
        # Imported only now: config.py has been unloaded, so the peak at boot stays low.
        from board import Board
        from outbox_queue import Outbox

        c = self.config
        self.board = Board(c["watchdog_s"], c["led_pin"], c["led_active_low"])
        self.outbox = Outbox(c["outbox_dir"], c["outbox_max"], c["outbox_policy"])
        self.telemetry_interval_s = c["telemetry_interval_s"]
        if len(self.outbox):
            _say("outbox holds %d message(s) from before" % len(self.outbox))

    # -- user API -----------------------------------------------------------------------------
    def on_method(self, name, fn):
        self._methods[name] = fn

    def on_c2d(self, fn):
        self._c2d = fn

    def on_desired(self, fn):
        self._desired = fn

    def on_telemetry(self, fn):
        self._telemetry = fn

    def send(self, body, properties=None):
        # Queue one telemetry message (QoS 1). Raises AgentError for a message over 256 KB.
        if self.outbox is None:
            raise self.config_error or AgentError(KIND_CONFIG, "no configuration")
        if isinstance(body, (bytes, bytearray)):
            payload = bytes(body)
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body).encode()
        dropped = self.outbox.take_dropped()
        if dropped:
            properties = dict(properties) if properties else {}
            properties["outbox-dropped"] = str(dropped)
        self._seq += 1
        mid = "%s-%d" % (self._boot_id, self._seq)
        topic = topics.telemetry_get_publish_topic(self.config["device_id"], properties, mid)
        size = len(topic) + len(payload)
        if size > MESSAGE_MAX_BYTES:
            raise AgentError(
                KIND_TOO_LARGE,
                "message of %d bytes is over the hub's 256 KB limit: split it" % size,
            )
        before = self.outbox.dropped_total
        stored = self.outbox.put(topic, payload, self.connected)
        lost = self.outbox.dropped_total - before
        if lost:
            self.stats["dropped"] += lost
            _say(
                "outbox full (%d): dropped %d message(s) (%s)"
                % (self.outbox.max_messages, lost, self.outbox.policy)
            )
        if stored:
            self.stats["queued"] += 1
        return mid if stored else None

    def report(self, patch):
        # Reported properties: merged while offline, sent on (re)connect.
        if self._report is None:
            self._report = {}
        for key in patch:
            self._report[key] = patch[key]
        if self.connected:
            self._send_report()

    # -- loop ---------------------------------------------------------------------------------
    def run(self, until=None, for_ms=None):
        start = time.ticks_ms()
        if self.config is None:
            return self._run_without_config(until, for_ms, start)
        self.board.start_watchdog()
        try:
            while True:
                if until is not None and until():
                    break
                if for_ms is not None and time.ticks_diff(time.ticks_ms(), start) >= for_ms:
                    break
                self.board.feed()
                if self.connected:
                    self._step_connected(start, for_ms)
                else:
                    self._step_offline(start, for_ms)
        finally:
            if self.outbox is not None and self.connected:
                self._settle()
            if self.outbox is not None:
                self.outbox.persist()

    def stop(self):
        if self._session is not None:
            self._session.disconnect()
        self._set_disconnected()

    def _remaining(self, start, for_ms, want_ms):
        if for_ms is None:
            return want_ms
        left = for_ms - time.ticks_diff(time.ticks_ms(), start)
        return max(0, min(want_ms, left))

    def _run_without_config(self, until, for_ms, start):
        # A bad config never boot-loops the board: wait (Ctrl-C reaches the REPL), re-read it.
        while True:
            if until is not None and until():
                return
            if for_ms is not None and time.ticks_diff(time.ticks_ms(), start) >= for_ms:
                return
            time.sleep_ms(self._remaining(start, for_ms, 200))
            if time.ticks_diff(time.ticks_ms(), self._next_connect) >= 0:
                self._next_connect = time.ticks_add(time.ticks_ms(), _CONFIG_RETRY_MS)
                try:
                    self.config = _load_config(self._config_path)
                except AgentError as exc:
                    if exc.message != (self.config_error and self.config_error.message):
                        _say("error: " + exc.message)
                    self.config_error = exc
                    continue
                self.config_error = None
                self._prepare()
                return self.run(
                    until,
                    None
                    if for_ms is None
                    else max(0, for_ms - time.ticks_diff(time.ticks_ms(), start)),
                )

    def _step_offline(self, start, for_ms):
        wait = time.ticks_diff(self._next_connect, time.ticks_ms())
        if wait > 0:
            time.sleep_ms(self._remaining(start, for_ms, min(wait, 100)))
            self._tick_telemetry()
            return
        self._connect()

    def _connect(self):
        try:
            import connect

            self._session = connect.connect(self)
        except MemoryError:
            self._out_of_memory()
        finally:
            _unload("connect")
            _unload("link")

    def _schedule_reconnect(self, kind, connected_for_ms):
        try:
            import connect

            connect.schedule(self, kind, connected_for_ms)
        except MemoryError:
            self._out_of_memory()
        finally:
            _unload("connect")
            _unload("link")

    def _out_of_memory(self):
        # Not even the error path fits: say so, wait, try again (never crash the loop).
        self.connected = False
        self.last_error = "out of memory while connecting"
        _say("error: out of memory while connecting: free RAM (smaller messages, fewer handlers)")
        self._next_connect = time.ticks_add(time.ticks_ms(), 5000)

    def _set_disconnected(self):
        self.connected = False
        self._inflight = {}
        if self.outbox is not None:
            self.outbox.inflight_reset()
            self.outbox.persist()
        if self.board is not None:
            self.board.set_led(False)

    def _lost(self, exc, planned=False):
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        err = error_explain(exc, "session")
        connected_for = time.ticks_diff(time.ticks_ms(), self._connected_at)
        if self._session is not None:
            self._session.close()
        self._set_disconnected()
        self.last_error = err.message
        _say("disconnected: " + err.message)
        self._schedule_reconnect(err.kind, connected_for)

    def _step_connected(self, start, for_ms):
        session = self._session
        try:
            now = time.ticks_ms()
            if self._sas_renew_at is not None and time.ticks_diff(now, self._sas_renew_at) >= 0:
                _say("renewing the SAS token")
                session.disconnect()
                self._set_disconnected()
                self._next_connect = now
                return
            self._tick_telemetry()
            busy = self._pump_outbox()
            self._check_inflight(now)
            ping_before = session.ping_sent_at
            session.keepalive_service(now)
            if session.ping_sent_at is not None and ping_before is None:
                self.stats["pings"] += 1
            wait = 0 if busy else self._remaining(start, for_ms, self._idle_wait_ms())
            packet = session.read_packet(wait)
            count = 0
            while packet is not None:
                self._handle_packet(packet)
                count += 1
                if count >= 16:
                    break
                packet = session.read_packet(0)
            if self._acked_unreported and not self._inflight:
                _say("sent %d message(s)" % self._acked_unreported)
                self._acked_unreported = 0
        except Exception as exc:
            self._lost(exc)

    def _idle_wait_ms(self):
        wait = 100
        if self._next_telemetry is not None and self._telemetry is not None:
            wait = max(0, min(wait, time.ticks_diff(self._next_telemetry, time.ticks_ms())))
        return wait

    def _tick_telemetry(self):
        if self._telemetry is None:
            return
        now = time.ticks_ms()
        if self._next_telemetry is None:
            self._next_telemetry = now
        if time.ticks_diff(now, self._next_telemetry) < 0:
            return
        self._next_telemetry = time.ticks_add(
            self._next_telemetry, int(self.telemetry_interval_s * 1000)
        )
        if time.ticks_diff(now, self._next_telemetry) > 0:
            self._next_telemetry = time.ticks_add(now, int(self.telemetry_interval_s * 1000))
        try:
            body = self._telemetry()
        except Exception as exc:
            _say("error: telemetry callback failed: %s: %s" % (type(exc).__name__, exc))
            return
        if body is not None:
            try:
                self.send(body)
            except AgentError as exc:
                _say("error: " + exc.message)

    def _pump_outbox(self):
        # -> True while more is waiting to be published (so the loop does not sleep).
        session = self._session
        while len(self._inflight) < _WINDOW:
            entry = self.outbox.next_unsent()
            if entry is None:
                return False
            pid = session.publish(entry[0], entry[1], False, 1)
            entry[2] = pid
            self._inflight[pid] = (entry, time.ticks_ms())
            self.stats["sent"] += 1
        return False

    def _check_inflight(self, now):
        # A PUBACK that does not come within io_timeout: the link is half-open.
        limit = self._session.io_timeout_ms
        for pid in self._inflight:
            if time.ticks_diff(now, self._inflight[pid][1]) > limit:
                raise AgentError(
                    "network", "no PUBACK within %d s: the link is dead" % (limit // 1000)
                )

    # -- incoming -----------------------------------------------------------------------------
    def _handle_packet(self, packet):
        first, body, length = packet
        kind = first & 0xF0
        if kind == mp.TYPE_PUBACK:
            pid = mp.mqtt_parse_packet_id(body)
            item = self._inflight.pop(pid, None)
            if item is not None:
                self.outbox.ack(item[0])
                self.stats["acked"] += 1
                self._acked_unreported += 1
        elif kind == mp.TYPE_PUBLISH:
            self._handle_publish(first, body, length)
        # PINGRESP is handled by the session; SUBACK outside _subscribe is ignored.

    def _handle_publish(self, first, body, length):
        session = self._session
        topic, pid, qos, payload = mp.mqtt_parse_publish(first, body)
        truncated = length > len(body)
        try:
            if truncated:
                _say(
                    "error: dropped an incoming message of %d bytes on %s (limit %d)"
                    % (length, topic.decode(), session.max_incoming)
                )
            else:
                self._dispatch(topic, payload)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            _say("error: malformed message on %s: %s" % (topic.decode(), exc))
        finally:
            if qos == 1 and self._session is not None and self._session.sock is not None:
                session.puback(pid)

    def _dispatch(self, topic, payload):
        # Chain of parsers as in the Azure embedded SDK: C2D, then methods, then twin.
        props = topics.c2d_parse_received_topic(self.config["device_id"], topic)
        if props is not None:
            self.stats["c2d"] += 1
            if self._c2d is None:
                _say("c2d message received (no handler)")
                return
            try:
                self._c2d(bytes(payload), props)
            except Exception as exc:
                _say("error: c2d handler failed: %s: %s" % (type(exc).__name__, exc))
            return
        # Twin and method code is loaded only while it is needed.
        if topic.startswith(b"$iothub/methods/"):
            name = "methods"
        elif topic.startswith(b"$iothub/twin/"):
            name = "twin"
        else:
            name = None
        if name is not None:
            module = __import__(name)
            try:
                handled = (module.method_handle if name == "methods" else module.twin_handle)(
                    self, topic, payload
                )
            finally:
                del module
                _unload(name)
            if handled:
                return
        _say("ignored a message on " + topic.decode())

    def _next_rid(self, kind):
        self._rid += 1
        rid = str(self._rid)
        self._requests[rid] = kind
        return rid

    def _twin(self, what):
        import twin

        try:
            if what == "get":
                twin.twin_request_get(self)
            else:
                twin.twin_send_report(self)
        finally:
            _unload("twin")

    def _twin_get(self):
        self._twin("get")

    def _send_report(self):
        self._twin("report")

    def _settle(self):
        # Before returning from run(): give in-flight PUBACKs a moment, then leave cleanly.
        session = self._session
        try:
            deadline = time.ticks_add(time.ticks_ms(), 2000)
            while self._inflight and time.ticks_diff(deadline, time.ticks_ms()) > 0:
                packet = session.read_packet(50)
                if packet is not None:
                    self._handle_packet(packet)
            if self._acked_unreported:
                _say("sent %d message(s)" % self._acked_unreported)
                self._acked_unreported = 0
        except Exception:
            pass
