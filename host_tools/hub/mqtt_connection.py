"""The server side of one MQTT 3.1.1 connection, without a dialect: framing, deadlines, drop.

`MqttServerConnection` sits on a `TlsServerProtocol`: it buffers and decodes packets (one at a
time until CONNECT is accepted, under a small size cap), cuts a peer that sends no complete
CONNECT by the deadline or goes silent past its keep-alive, answers PINGREQ, and logs why a
connection closed. The hub's device connection and the DPS connection subclass it and keep only
their dialect: CONNECT rules, what a PUBLISH or SUBSCRIBE means, what a session holds.
"""

import asyncio
import itertools
import time

from host_tools.hub import mqtt

KEEPALIVE_CAP_S = 1767  # the hub drops a client after 1.5x keep-alive, at most this
# before CONNECT the peer is nobody: a CONNECT of at most this many bytes (client id, user name,
# a SAS token: well under 1 KB in practice)
CONNECT_LIMIT_BYTES = 8192


def keepalive_idle_limit(keep_alive: int) -> float:
    """Seconds of silence allowed after CONNECT: 1.5x the keep-alive, capped (0 = the cap)."""
    if keep_alive:
        return min(keep_alive * 1.5, KEEPALIVE_CAP_S)
    return float(KEEPALIVE_CAP_S)


class MqttServerConnection:
    """Server side of MQTT for one TLS connection; subclasses handle CONNECT, PUBLISH, SUBSCRIBE.

    `client_id` stays None until the subclass accepts a CONNECT (`_accept`). A subclass
    implements `_on_connect`, `_on_publish` and `_on_subscribe`, and may override the hooks
    `_on_puback`, `_save_subscriptions`, `_detach` and `_protocol_error_reason`.
    """

    # what the connection log says when a deadline passes (a dialect may word it its own way)
    CONNECT_EXPIRED = "no complete CONNECT within {deadline:g} s"
    KEEPALIVE_EXPIRED = "no packet (keep-alive x1.5) for {idle:.1f} s"

    def __init__(
        self,
        tls,
        record_event,
        connect_deadline_s: float,
        deadline_from: float | None = None,
    ):
        """`record_event(event, client_id, reason, code=None, peer=None)` logs the connection.

        The CONNECT deadline counts from the loop time `deadline_from` (the TCP accept, so
        trickled bytes do not extend it), or from now when None.
        """
        self.tls = tls
        self.client_id: str | None = None
        self.subscriptions: dict = {}  # topic filter -> granted QoS
        self._record_event = record_event
        self._connect_deadline_s = connect_deadline_s
        self._reader = mqtt.PacketReader(CONNECT_LIMIT_BYTES)  # raised by `_accept`
        self._packet_ids = itertools.cycle(range(1, 65536))
        self._closed = False
        self._idle_limit = connect_deadline_s
        self._last_activity = time.monotonic()
        loop = asyncio.get_running_loop()
        start = loop.time() if deadline_from is None else deadline_from
        self._timer = loop.call_at(start + connect_deadline_s, self._check_idle)

    # deadlines --------------------------------------------------------------------------

    def _check_idle(self):
        if self._closed:
            return
        if self.client_id is None:
            self.drop(self.CONNECT_EXPIRED.format(deadline=self._connect_deadline_s))
            return
        idle = time.monotonic() - self._last_activity
        if idle >= self._idle_limit:
            self.drop(self.KEEPALIVE_EXPIRED.format(idle=idle))
            return
        self._schedule_idle_check(self._idle_limit - idle)

    def _schedule_idle_check(self, delay: float) -> None:
        self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(delay, self._check_idle)

    # CONNECT's outcome ------------------------------------------------------------------

    def _accept(self, client_id: str, keep_alive: int, max_packet_size: int) -> None:
        """Take `client_id` as the peer; lift the size cap to `max_packet_size`.

        The idle check stays where it was (the CONNECT deadline); a dialect that wants the
        keep-alive to count from now calls `_schedule_idle_check(self._idle_limit)`.
        """
        self.client_id = client_id
        self._reader.max_packet_size = max_packet_size
        self._idle_limit = keepalive_idle_limit(keep_alive)

    def _refuse(self, packet: mqtt.Connect, code: int, reason: str) -> None:
        """Log the refusal, answer CONNACK `code` and close."""
        self._record_event("refused", packet.client_id or None, reason, code, self.tls.peer)
        self._closed = True
        self._timer.cancel()
        self._detach()
        self.tls.write(mqtt.encode_connack(code))
        self.tls.close()

    # closing ----------------------------------------------------------------------------

    def drop(self, reason: str) -> None:
        """Close the connection, logging why (the server's side of the story)."""
        if self._closed:
            return
        self._closed = True
        self._timer.cancel()
        self._record_event("closed", self.client_id, reason, peer=self.tls.peer)
        self._detach()
        self.tls.close()

    def connection_lost(self):
        if not self._closed:
            self._closed = True
            self._timer.cancel()
            self._detach()

    def _detach(self) -> None:
        """Forget this connection wherever the server keeps it (once, on close)."""

    # packets in -------------------------------------------------------------------------

    def data_received(self, data: bytes):
        if self._closed:
            return
        self._last_activity = time.monotonic()
        while not self._closed:
            before_connect = self.client_id is None
            try:
                # before CONNECT one packet at a time: an accepted CONNECT lifts the size cap
                packets = self._reader.feed(data, 1 if before_connect else None)
            except mqtt.ProtocolError as exc:  # PacketTooLarge included
                self.drop(self._protocol_error_reason(exc))
                return
            data = b""
            for packet in packets:
                if self._closed:
                    return
                self._handle(packet)
            if not packets or not before_connect:
                return

    def _protocol_error_reason(self, exc: mqtt.ProtocolError) -> str:
        return f"protocol error: {exc}"

    def _handle(self, packet):
        if self.client_id is None:
            if isinstance(packet, mqtt.Connect):
                self._on_connect(packet)
            else:
                self.drop("first packet is not CONNECT")
            return
        if isinstance(packet, mqtt.Publish):
            self._on_publish(packet)
        elif isinstance(packet, mqtt.Subscribe):
            self._on_subscribe(packet)
        elif isinstance(packet, mqtt.Unsubscribe):
            for topic_filter in packet.filters:
                self.subscriptions.pop(topic_filter, None)
            self._save_subscriptions()
            self.tls.write(mqtt.encode_unsuback(packet.packet_id))
        elif isinstance(packet, mqtt.Connect):
            self.drop("second CONNECT on one connection")
        elif packet.kind == mqtt.PINGREQ:
            self.tls.write(mqtt.PINGRESP_BYTES)
        elif packet.kind == mqtt.PUBACK:
            self._on_puback(packet.packet_id)
        elif packet.kind == mqtt.DISCONNECT:
            self.drop("device disconnected")
        else:
            self.drop(f"unexpected packet type {packet.kind}")

    def _on_connect(self, packet: mqtt.Connect) -> None:
        raise NotImplementedError

    def _on_publish(self, packet: mqtt.Publish) -> None:
        raise NotImplementedError

    def _on_subscribe(self, packet: mqtt.Subscribe) -> None:
        raise NotImplementedError

    def _on_puback(self, packet_id: int) -> None:
        """The peer acknowledged our QoS 1 publish `packet_id`."""

    def _save_subscriptions(self) -> None:
        """`subscriptions` changed (UNSUBSCRIBE): keep them if the session outlives the link."""

    # packets out ------------------------------------------------------------------------

    def _publish(self, topic: str, payload: bytes, qos: int) -> int | None:
        """Publish to the peer; returns the packet id (None at QoS 0)."""
        packet_id = next(self._packet_ids) if qos else None
        self.tls.write(mqtt.encode_publish(mqtt.Publish(topic, payload, qos, packet_id=packet_id)))
        return packet_id
