"""The emulator's core: one asyncio loop serving MQTT over mutual TLS, plus the service side.

`Hub` owns the registry, the telemetry received, the live device sessions and the pending method
calls. Each TLS connection gets a `DeviceConnection` that speaks the server side of MQTT with the
hub's rules. Every write is buffered by asyncio, so a slow or silent device never stalls another.
"""

import asyncio
import itertools
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from host_tools.hub import mqtt, topics
from host_tools.hub.auth import authenticate, certificate_thumbprints
from host_tools.hub.mqtt_connection import MqttServerConnection
from host_tools.hub.registry import AUTH_SAS, Registry, RegistryError
from host_tools.hub.tls import TlsServerProtocol, ensure_server_credentials, server_context
from host_tools.hub.twin import TwinError, twin_apply_patch, twin_parse_patch

log = logging.getLogger("host_tools.hub")

MESSAGE_LIMIT_BYTES = 256 * 1024  # telemetry: topic (properties) + body
# before CONNECT the peer is nobody: TLS handshake + a complete CONNECT within this many seconds
# of the TCP accept (trickled bytes do not extend it); its size cap is in mqtt_connection.py
CONNECT_DEADLINE_S = 10.0
MAX_SUBSCRIPTIONS = 5
TELEMETRY_KEPT = 200_000  # in memory only; the oldest are dropped first


@dataclass
class TelemetryRecord:
    """One device-to-cloud message as the hub received it."""

    index: int
    device_id: str
    topic: str
    properties: dict
    body: bytes
    received_at: float
    qos: int = 0
    dup: bool = False  # the MQTT DUP flag: the device says it sent this message before

    def to_json(self) -> dict:
        try:
            body = self.body.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            body, encoding = self.body.hex(), "hex"
        return {
            "index": self.index,
            "deviceId": self.device_id,
            "topic": self.topic,
            "properties": self.properties,
            "body": body,
            "bodyEncoding": encoding,
            "receivedAt": self.received_at,
            "dup": self.dup,
        }


@dataclass
class ConnectionEvent:
    """A line of the hub's connection log: accepted, refused (with CONNACK code) or closed."""

    time: float
    event: str  # "accepted", "refused", "closed", "warning"
    device_id: str | None
    reason: str
    code: int | None = None
    peer: tuple | None = None
    extra: dict = field(default_factory=dict)
    # accepted X.509 connections: {"sha1", "sha256"} of the certificate that authenticated it
    thumbprints: dict | None = None

    @property
    def accepted(self) -> bool:
        return self.event == "accepted"

    def to_json(self) -> dict:
        return {
            "time": self.time,
            "event": self.event,
            "deviceId": self.device_id,
            "reason": self.reason,
            "code": self.code,
            "peer": list(self.peer) if self.peer else None,
            "thumbprints": self.thumbprints,
        }


class Hub:
    """The IoT Hub emulator: registry, MQTT server, service operations (all on one loop)."""

    def __init__(
        self,
        data_dir,
        host_name: str = "localhost",
        serve: bool = True,
        dps_host_name: str | None = None,
    ):
        """`serve=False`: registry operations only (the CLI editing a stopped hub's state).

        `dps_host_name`: the server certificate also names it (the DPS endpoint's own host).
        """
        from host_tools.dps.enrollments import EnrollmentStore

        self.data_dir = data_dir
        self.host_name = host_name
        self.registry = Registry(data_dir)
        self.enrollments = EnrollmentStore(data_dir)  # DPS's state, beside the registry
        self.dps = None  # the DpsServer once started (host_tools/dps/server.py)
        self.dps_host_name = dps_host_name
        if serve:
            names = (host_name, dps_host_name) if dps_host_name else (host_name,)
            self.credentials = ensure_server_credentials(data_dir, names)
            self._context = server_context(
                self.credentials["chain_file"], self.credentials["key_file"]
            )
        self._telemetry: deque = deque(maxlen=TELEMETRY_KEPT)
        self._telemetry_lock = threading.Lock()
        self._telemetry_count = 0
        self.connection_log: list = []
        self.sessions: dict = {}  # device id -> the live DeviceConnection
        self._pending_methods: dict = {}  # request id -> future of (status, payload)
        self._request_ids = itertools.count(1)
        self._server = None
        self.port = None
        self.connect_deadline_s = CONNECT_DEADLINE_S

    # lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 8883) -> int:
        """Listen for devices; returns the port (useful with port 0)."""
        loop = asyncio.get_running_loop()

        def protocol():
            return TlsServerProtocol(
                self._context,
                lambda tls: DeviceConnection(self, tls),
                self.connect_deadline_s,
                self._handshake_expired,
            )

        self._server = await loop.create_server(protocol, host, port, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("hub listening on %s:%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop every device connection; the state stays."""
        if self._server is not None:
            self._server.close()
            for connection in list(self.sessions.values()):
                connection.drop("hub stopped")
            await self._server.wait_closed()
            self._server = None

    def _handshake_expired(self, tls: TlsServerProtocol) -> None:
        deadline = self.connect_deadline_s
        self.record_event(
            "closed", None, f"TLS handshake not done within {deadline:g} s", peer=tls.peer
        )

    # logging --------------------------------------------------------------------------

    def record_event(
        self, event: str, device_id, reason: str, code=None, peer=None, thumbprints=None
    ) -> None:
        self.connection_log.append(
            ConnectionEvent(time.time(), event, device_id, reason, code, peer, {}, thumbprints)
        )
        del self.connection_log[:-10_000]
        level = logging.WARNING if event in ("refused", "warning") else logging.INFO
        log.log(level, "%s %s: %s", event, device_id, reason)

    # telemetry ------------------------------------------------------------------------

    def record_telemetry(self, device_id, topic, properties, body, qos, dup=False) -> None:
        with self._telemetry_lock:
            self._telemetry_count += 1
            record = TelemetryRecord(
                self._telemetry_count, device_id, topic, properties, body, time.time(), qos, dup
            )
            self._telemetry.append(record)

    def telemetry(self, device_id: str | None = None, since: int = 0) -> list:
        """Messages received (oldest first), optionally from one device, after index `since`."""
        with self._telemetry_lock:
            records = list(self._telemetry)
        return [
            r
            for r in records
            if r.index > since and (device_id is None or r.device_id == device_id)
        ]

    # service operations (call on the hub's loop) ----------------------------------------

    def device_online(self, device_id: str, topic_filter: str | None = None) -> bool:
        connection = self.sessions.get(device_id)
        if connection is None:
            return False
        return topic_filter is None or topic_filter in connection.subscriptions

    def c2d(self, device_id: str, body: bytes, properties: dict | None = None) -> dict:
        """Queue a cloud-to-device message; delivered now if the device is subscribed."""
        message = self.registry.c2d_enqueue(device_id, body, properties or {})
        connection = self.sessions.get(device_id)
        if connection is not None:
            connection.deliver_c2d()
        return message

    def twin(self, device_id: str) -> dict:
        twin = self.registry.device(device_id)["twin"]
        return json.loads(json.dumps({"desired": twin["desired"], "reported": twin["reported"]}))

    def update_desired(self, device_id: str, patch: dict) -> int:
        """Merge `patch` into the desired properties; push it to the device if it listens."""
        twin = self.registry.device(device_id)["twin"]
        try:
            version = twin_apply_patch(twin, "desired", patch)
        except TwinError as exc:
            raise RegistryError(str(exc), exc.status) from exc
        self.registry.save()
        connection = self.sessions.get(device_id)
        if connection is not None and topics.TWIN_DESIRED_FILTER in connection.subscriptions:
            body = dict(patch)
            body["$version"] = version
            connection.send(topics.twin_desired_topic(version), json.dumps(body).encode())
        return version

    async def invoke(self, device_id: str, method: str, payload, timeout: float = 30.0):
        """Call a direct method; returns (status, payload). 404: not online, 504: no answer."""
        self.registry.device(device_id)
        if not self.device_online(device_id, topics.METHODS_FILTER):
            return 404, {"errorCode": 404103, "message": f"device {device_id} is not online"}
        request_id = format(next(self._request_ids), "x")
        future = asyncio.get_running_loop().create_future()
        self._pending_methods[request_id] = (device_id, future)
        body = json.dumps(payload).encode()
        self.sessions[device_id].send(topics.method_request_topic(method, request_id), body)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return 504, {
                "errorCode": 504101,
                "message": f"device {device_id} did not answer {method} within {timeout} s",
            }
        finally:
            self._pending_methods.pop(request_id, None)

    def method_answered(self, device_id: str, status: int, request_id: str, body: bytes) -> None:
        pending = self._pending_methods.get(request_id)
        if pending is None or pending[0] != device_id or pending[1].done():
            log.info("method answer from %s for unknown request %r", device_id, request_id)
            return
        try:
            payload = json.loads(body) if body.strip() else None
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json recurses
            payload = body.decode("utf-8", "replace")
        pending[1].set_result((status, payload))


class DeviceConnection(MqttServerConnection):
    """Server side of MQTT for one TLS connection, with the hub's rules."""

    def __init__(self, hub: Hub, tls: TlsServerProtocol):
        # the CONNECT deadline counts from the TCP accept, not from the handshake's end
        super().__init__(tls, hub.record_event, hub.connect_deadline_s, tls.accepted_at)
        self.hub = hub
        self.clean_session = False
        self._inflight_c2d: dict = {}  # packet id -> C2D message id

    @property
    def device_id(self) -> str | None:
        """The connected device (its MQTT client id); None until CONNECT is accepted."""
        return self.client_id

    # plumbing -------------------------------------------------------------------------

    def send(self, topic: str, payload: bytes, qos: int | None = None) -> int | None:
        """Publish to the device at the QoS it subscribed with (at most 1)."""
        if qos is None:
            qos = min(self._granted_qos(topic), 1)
        return self._publish(topic, payload, qos)

    def _granted_qos(self, topic: str) -> int:
        granted = [q for f, q in self.subscriptions.items() if topics.topic_matches(f, topic)]
        return max(granted, default=0)

    def _detach(self):
        if self.device_id and self.hub.sessions.get(self.device_id) is self:
            del self.hub.sessions[self.device_id]
            if self.clean_session:
                self.hub.registry.set_subscriptions(self.device_id, {})

    def connection_lost(self):
        if not self._closed and self.device_id:
            self.hub.record_event("closed", self.device_id, "connection lost", peer=self.tls.peer)
        super().connection_lost()

    def _protocol_error_reason(self, exc: mqtt.ProtocolError) -> str:
        if not isinstance(exc, mqtt.PacketTooLarge):
            return super()._protocol_error_reason(exc)
        if self.device_id is None:
            return f"packet of {exc.size} bytes before authentication ({exc})"
        return f"message too large: {exc} (limit {MESSAGE_LIMIT_BYTES} bytes)"

    def _on_puback(self, packet_id: int):
        message_id = self._inflight_c2d.pop(packet_id, None)
        if message_id:
            self.hub.registry.c2d_complete(self.device_id, message_id)

    # CONNECT --------------------------------------------------------------------------

    def _on_connect(self, packet: mqtt.Connect):
        hub = self.hub
        if packet.protocol_name != "MQTT" or packet.protocol_level != 4:
            self._refuse(
                packet,
                mqtt.CONNACK_BAD_PROTOCOL,
                f"protocol {packet.protocol_name!r} level "
                f"{packet.protocol_level}: only MQTT 3.1.1 (level 4)",
            )
            return
        verdict = authenticate(
            packet, hub.host_name, hub.registry, self.tls.peer_chain, time.time()
        )
        if not verdict.accepted:
            self._refuse(packet, verdict.code, verdict.reason)
            return
        if verdict.warning:
            hub.record_event("warning", packet.client_id, verdict.warning, peer=self.tls.peer)
        device_id = packet.client_id
        previous = hub.sessions.get(device_id)
        if previous is not None:
            previous.drop("another connection with the same device id")
        self._accept(device_id, packet.keep_alive, MESSAGE_LIMIT_BYTES + 4096)
        self.clean_session = packet.clean_session
        saved = hub.registry.device(device_id).get("subscriptions") or {}
        session_present = bool(saved) and not packet.clean_session
        self.subscriptions = {} if packet.clean_session else dict(saved)
        if packet.clean_session and saved:
            hub.registry.set_subscriptions(device_id, {})
        hub.sessions[device_id] = self
        self._schedule_idle_check(self._idle_limit)  # the keep-alive counts from now
        thumbprints = None  # what rotate waits for: a connection made with the new certificate
        auth_type = hub.registry.device(device_id)["authentication"]["type"]
        if self.tls.peer_chain and auth_type != AUTH_SAS:
            sha1, sha256 = certificate_thumbprints(self.tls.peer_chain[0])
            thumbprints = {"sha1": sha1, "sha256": sha256}
        hub.record_event(
            "accepted",
            device_id,
            f"{verdict.reason} ({self.tls.tls_version}, keep-alive {packet.keep_alive} s)",
            0,
            self.tls.peer,
            thumbprints,
        )
        self.tls.write(mqtt.encode_connack(mqtt.CONNACK_ACCEPTED, session_present))
        self.deliver_c2d()

    # PUBLISH --------------------------------------------------------------------------

    def _on_publish(self, packet: mqtt.Publish):
        device_id = self.device_id
        if packet.qos == 2:
            self.drop("QoS 2 is not supported by IoT Hub")
            return
        size = len(packet.topic.encode()) + len(packet.payload)
        if size > MESSAGE_LIMIT_BYTES:
            self.drop(f"message of {size} bytes exceeds {MESSAGE_LIMIT_BYTES}")
            return
        properties = topics.telemetry_parse_topic(packet.topic, device_id)
        if properties is not None:
            if packet.retain:
                properties["mqtt-retain"] = "true"
            self.hub.record_telemetry(
                device_id, packet.topic, properties, packet.payload, packet.qos, packet.dup
            )
        elif (twin := topics.twin_parse_request(packet.topic)) is not None:
            self._on_twin_request(twin, packet.payload)
        elif (answer := topics.method_parse_response(packet.topic)) is not None:
            self.hub.method_answered(device_id, answer.status, answer.request_id, packet.payload)
        else:
            self.drop(f"publish to a topic the device may not use: {packet.topic!r}")
            return
        if packet.qos == 1:
            self.tls.write(mqtt.encode_puback(packet.packet_id))

    def _on_twin_request(self, request: topics.TwinRequest, body: bytes):
        twin = self.hub.registry.device(self.device_id)["twin"]
        if request.kind == "get":
            document = {"desired": twin["desired"], "reported": twin["reported"]}
            self._twin_answer(topics.twin_response_topic(200, request.request_id), document)
            return
        try:
            version = twin_apply_patch(twin, "reported", twin_parse_patch(body))
        except TwinError as exc:
            log.info("twin patch from %s refused: %s", self.device_id, exc)
            message = {"errorCode": exc.status * 1000 + 1, "message": str(exc)}
            self._twin_answer(topics.twin_response_topic(exc.status, request.request_id), message)
            return
        self.hub.registry.save()
        self._twin_answer(topics.twin_response_topic(204, request.request_id, version), None)

    def _twin_answer(self, topic: str, document):
        if topics.TWIN_RESPONSE_FILTER not in self.subscriptions:
            log.info("%s asked its twin without subscribing to %s", self.device_id, topic)
            return
        self.send(topic, b"" if document is None else json.dumps(document).encode())

    # SUBSCRIBE ------------------------------------------------------------------------

    def _on_subscribe(self, packet: mqtt.Subscribe):
        codes = []
        for topic_filter, qos in packet.filters:
            allowed = topics.subscription_allowed(topic_filter, self.device_id)
            full = topic_filter not in self.subscriptions and (
                len(self.subscriptions) >= MAX_SUBSCRIPTIONS
            )
            if not allowed or full:
                why = "more than 5 subscriptions" if allowed else "not the device's own topic"
                self.hub.record_event("warning", self.device_id, f"subscribe {topic_filter}: {why}")
                codes.append(mqtt.SUBACK_FAILURE)
                continue
            granted = min(qos, 1)
            self.subscriptions[topic_filter] = granted
            codes.append(granted)
        self._save_subscriptions()
        self.tls.write(mqtt.encode_suback(packet.packet_id, codes))
        self.deliver_c2d()

    def _save_subscriptions(self):
        if not self.clean_session:
            self.hub.registry.set_subscriptions(self.device_id, self.subscriptions)

    # C2D --------------------------------------------------------------------------------

    def deliver_c2d(self) -> None:
        """Send queued C2D messages not yet in flight on this connection, if subscribed."""
        if self._closed or self.device_id is None:
            return
        sample_topic = f"devices/{self.device_id}/messages/devicebound/x"
        if not any(topics.topic_matches(f, sample_topic) for f in self.subscriptions):
            return
        inflight = set(self._inflight_c2d.values())
        for message in list(self.hub.registry.device(self.device_id)["c2d"]):
            if message["id"] in inflight:
                continue
            properties = dict(message["properties"])
            properties["$.mid"] = message["id"]
            properties["$.to"] = f"/devices/{self.device_id}/messages/deviceBound"
            topic = topics.c2d_topic(self.device_id, properties)
            packet_id = self.send(topic, message["body"].encode("latin-1"))
            if packet_id is None:
                self.hub.registry.c2d_complete(self.device_id, message["id"])
            else:
                self._inflight_c2d[packet_id] = message["id"]
