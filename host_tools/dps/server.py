"""The DPS endpoint: MQTT 3.1.1 over mutual TLS on its own port, beside the hub, same loop.

It shares the hub's CA and server certificate (which also names the DPS host), its registry
(devices are allocated there) and its connection log. Each connection gets a `DpsConnection`:
CONNECT with the DPS user name, SUBSCRIBE `$dps/registrations/res/#`, register and
operation-status publishes answered on `$dps/registrations/res/{status}/?$rid=..`.
"""

import asyncio
import itertools
import json
import logging
import time

from host_tools.dps import topics
from host_tools.dps.registration import Provisioning
from host_tools.hub import mqtt
from host_tools.hub.tls import TlsServerProtocol, server_context

log = logging.getLogger("host_tools.dps")

DEFAULT_DPS_HOST_NAME = "dps.localhost"
CONNECT_LIMIT_BYTES = 8192
REQUEST_LIMIT_BYTES = 64 * 1024  # a register body with its custom payload
KEEPALIVE_CAP_S = 1767


async def start_dps(hub, host: str = "127.0.0.1", port: int = 0) -> "DpsServer":
    """Start (or, after a stop, restart on the same port) the DPS endpoint of `hub`."""
    if hub.dps is None:
        hub.dps = DpsServer(hub, hub.dps_host_name or DEFAULT_DPS_HOST_NAME)
    elif hub.dps.port and not port:
        port = hub.dps.port
    await hub.dps.start(host, port)
    return hub.dps


class DpsServer:
    """The DPS endpoint of a `Hub`; start it on the hub's loop."""

    def __init__(self, hub, host_name: str = DEFAULT_DPS_HOST_NAME):
        self.hub = hub
        self.host_name = host_name
        self.provisioning = Provisioning(hub.enrollments, hub.registry, hub.host_name)
        credentials = hub.credentials
        self._context = server_context(credentials["chain_file"], credentials["key_file"])
        self._server = None
        self.port = None
        self.connections: set = set()

    @property
    def id_scope(self) -> str:
        return self.hub.enrollments.id_scope

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        deadline = self.hub.connect_deadline_s

        def protocol():
            return TlsServerProtocol(self._context, lambda tls: DpsConnection(self, tls), deadline)

        self._server = await loop.create_server(protocol, host, port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("DPS listening on %s:%s (id scope %s)", host, self.port, self.id_scope)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for connection in list(self.connections):
                connection.drop("DPS stopped")
            await self._server.wait_closed()
            self._server = None

    def record_event(self, event: str, registration_id, reason: str, code=None, peer=None):
        self.hub.record_event(event, registration_id, f"DPS: {reason}", code, peer)


class DpsConnection:
    """Server side of DPS's MQTT for one TLS connection."""

    def __init__(self, dps: DpsServer, tls: TlsServerProtocol):
        self.dps = dps
        self.tls = tls
        self.registration_id: str | None = None
        self.token: str | None = None
        self.subscriptions: dict = {}
        self._reader = mqtt.PacketReader(CONNECT_LIMIT_BYTES)
        self._packet_ids = itertools.cycle(range(1, 65536))
        self._closed = False
        self._idle_limit = dps.hub.connect_deadline_s
        self._last_activity = time.monotonic()
        dps.connections.add(self)
        self._timer = asyncio.get_running_loop().call_later(self._idle_limit, self._check_idle)

    def _check_idle(self):
        if self._closed:
            return
        idle = time.monotonic() - self._last_activity
        if self.registration_id is None or idle >= self._idle_limit:
            self.drop("no CONNECT in time" if self.registration_id is None else "keep-alive")
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._idle_limit - idle, self._check_idle)

    def drop(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._cleanup()
        self.dps.record_event("closed", self.registration_id, reason, peer=self.tls.peer)
        self.tls.close()

    def _cleanup(self):
        self._timer.cancel()
        self.dps.connections.discard(self)

    def connection_lost(self):
        if not self._closed:
            self._closed = True
            self._cleanup()

    def data_received(self, data: bytes):
        if self._closed:
            return
        self._last_activity = time.monotonic()
        while not self._closed:
            before_connect = self.registration_id is None
            try:
                packets = self._reader.feed(data, 1 if before_connect else None)
            except mqtt.ProtocolError as exc:  # PacketTooLarge included
                self.drop(f"protocol error: {exc}")
                return
            data = b""
            for packet in packets:
                if self._closed:
                    return
                self._handle(packet)
            if not packets or not before_connect:
                return

    def _handle(self, packet):
        if self.registration_id is None:
            if isinstance(packet, mqtt.Connect):
                self._on_connect(packet)
            else:
                self.drop("first packet is not CONNECT")
            return
        if isinstance(packet, mqtt.Publish):
            self._on_publish(packet)
        elif isinstance(packet, mqtt.Subscribe):
            codes = []
            for topic_filter, qos in packet.filters:
                if topic_filter == topics.RESPONSE_FILTER:
                    self.subscriptions[topic_filter] = min(qos, 1)
                    codes.append(min(qos, 1))
                else:
                    codes.append(mqtt.SUBACK_FAILURE)
            self.tls.write(mqtt.encode_suback(packet.packet_id, codes))
        elif isinstance(packet, mqtt.Unsubscribe):
            for topic_filter in packet.filters:
                self.subscriptions.pop(topic_filter, None)
            self.tls.write(mqtt.encode_unsuback(packet.packet_id))
        elif packet.kind == mqtt.PINGREQ:
            self.tls.write(mqtt.PINGRESP_BYTES)
        elif packet.kind == mqtt.PUBACK:
            pass
        elif packet.kind == mqtt.DISCONNECT:
            self.drop("device disconnected")
        else:
            self.drop(f"unexpected packet type {packet.kind}")

    def _on_connect(self, packet: mqtt.Connect):
        if packet.protocol_name != "MQTT" or packet.protocol_level != 4:
            self._refuse(packet, mqtt.CONNACK_BAD_PROTOCOL, "only MQTT 3.1.1 (level 4)")
            return
        user = topics.dps_parse_user_name(packet.user_name or "")
        if user is None:
            self._refuse(
                packet,
                mqtt.CONNACK_BAD_USER_NAME_OR_PASSWORD,
                f"user name {packet.user_name!r} is not "
                "'{idScope}/registrations/{registrationId}/api-version=...'",
            )
            return
        if user.registration_id != packet.client_id:
            self._refuse(
                packet,
                mqtt.CONNACK_BAD_USER_NAME_OR_PASSWORD,
                f"user name names {user.registration_id!r} but the client id is "
                f"{packet.client_id!r}",
            )
            return
        if user.id_scope != self.dps.id_scope:
            # judged here, before any enrollment is looked at: another DPS's devices learn nothing
            self._refuse(
                packet,
                mqtt.CONNACK_NOT_AUTHORIZED,
                f"id scope {user.id_scope!r} is not this DPS's ({self.dps.id_scope})",
            )
            return
        # the credentials are judged at register, where DPS answers 401 / 404 with a body
        self.registration_id = packet.client_id
        if packet.password is not None:
            self.token = packet.password.decode("utf-8", "replace")
        self._reader.max_packet_size = REQUEST_LIMIT_BYTES
        self._idle_limit = min((packet.keep_alive or KEEPALIVE_CAP_S) * 1.5, KEEPALIVE_CAP_S)
        self.dps.record_event(
            "accepted",
            self.registration_id,
            f"connected ({self.tls.tls_version})",
            0,
            self.tls.peer,
        )
        self.tls.write(mqtt.encode_connack(mqtt.CONNACK_ACCEPTED))

    def _refuse(self, packet: mqtt.Connect, code: int, reason: str):
        self.dps.record_event("refused", packet.client_id or None, reason, code, self.tls.peer)
        self._closed = True
        self._cleanup()
        self.tls.write(mqtt.encode_connack(code))
        self.tls.close()

    def _on_publish(self, packet: mqtt.Publish):
        if packet.qos == 2:
            self.drop("QoS 2 is not supported")
            return
        request = topics.dps_parse_request_topic(packet.topic)
        if request is None:
            self.drop(f"publish to a topic DPS does not serve: {packet.topic!r}")
            return
        if packet.qos == 1:
            self.tls.write(mqtt.encode_puback(packet.packet_id))
        provisioning = self.dps.provisioning
        now = time.time()
        if request.kind == "register":
            answer, operation = provisioning.register(
                self.registration_id, self.tls.peer_chain, self.token, packet.payload, now
            )
            if operation is not None and operation.result is None:
                self._complete_later(operation.ready_at - now)
            if answer.status >= 400:
                reason = f"register refused {answer.status}: {answer.body.get('message')}"
                self.dps.record_event("refused", self.registration_id, reason, peer=self.tls.peer)
        else:
            answer = provisioning.operation_status(self.registration_id, request.operation_id, now)
        self._answer(request.request_id, answer)

    def _complete_later(self, delay: float):
        # allocation happens when due even if the device hangs up or never polls, as DPS's does
        provisioning = self.dps.provisioning
        asyncio.get_running_loop().call_later(
            max(delay, 0), lambda: provisioning.complete_due(time.time())
        )

    def _answer(self, request_id: str, answer):
        topic = topics.dps_response_topic(answer.status, request_id, answer.retry_after)
        if topics.RESPONSE_FILTER not in self.subscriptions:
            log.info("%s sent a request without subscribing to %s", self.registration_id, topic)
            return
        qos = self.subscriptions[topics.RESPONSE_FILTER]
        packet_id = next(self._packet_ids) if qos else None
        body = json.dumps(answer.body).encode()
        self.tls.write(mqtt.encode_publish(mqtt.Publish(topic, body, qos, packet_id=packet_id)))
