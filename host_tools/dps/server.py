"""The DPS endpoint: MQTT 3.1.1 over mutual TLS on its own port, beside the hub, same loop.

It shares the hub's CA and server certificate (which also names the DPS host), its registry
(devices are allocated there) and its connection log. Each connection gets a `DpsConnection`:
CONNECT with the DPS user name, SUBSCRIBE `$dps/registrations/res/#`, register and
operation-status publishes answered on `$dps/registrations/res/{status}/?$rid=..`.
"""

import asyncio
import json
import logging
import time

from host_tools.dps import topics
from host_tools.dps.registration import Provisioning
from host_tools.hub import mqtt
from host_tools.hub.mqtt_connection import MqttServerConnection
from host_tools.hub.tls import TlsServerProtocol, server_context

log = logging.getLogger("host_tools.dps")

DEFAULT_DPS_HOST_NAME = "dps.localhost"
REQUEST_LIMIT_BYTES = 64 * 1024  # a register body with its custom payload


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


class DpsConnection(MqttServerConnection):
    """Server side of DPS's MQTT for one TLS connection."""

    # DPS's own wording in the connection log
    CONNECT_EXPIRED = "no CONNECT in time"
    KEEPALIVE_EXPIRED = "keep-alive"

    def __init__(self, dps: DpsServer, tls: TlsServerProtocol):
        # the CONNECT deadline counts from the handshake's end (the hub's, from the TCP accept)
        super().__init__(tls, dps.record_event, dps.hub.connect_deadline_s)
        self.dps = dps
        self.token: str | None = None
        dps.connections.add(self)

    @property
    def registration_id(self) -> str | None:
        """The registering device (its MQTT client id); None until CONNECT is accepted."""
        return self.client_id

    def _detach(self):
        self.dps.connections.discard(self)

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
        # the credentials are judged at register, where DPS answers 401 / 404 with a body;
        # the idle check stays at the CONNECT deadline, and reschedules itself from there
        self._accept(packet.client_id, packet.keep_alive, REQUEST_LIMIT_BYTES)
        if packet.password is not None:
            self.token = packet.password.decode("utf-8", "replace")
        self.dps.record_event(
            "accepted",
            self.registration_id,
            f"connected ({self.tls.tls_version})",
            0,
            self.tls.peer,
        )
        self.tls.write(mqtt.encode_connack(mqtt.CONNACK_ACCEPTED))

    def _on_subscribe(self, packet: mqtt.Subscribe):
        codes = []
        for topic_filter, qos in packet.filters:
            if topic_filter == topics.RESPONSE_FILTER:
                self.subscriptions[topic_filter] = min(qos, 1)
                codes.append(min(qos, 1))
            else:
                codes.append(mqtt.SUBACK_FAILURE)
        self.tls.write(mqtt.encode_suback(packet.packet_id, codes))

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
        self._publish(topic, json.dumps(answer.body).encode(), qos)
