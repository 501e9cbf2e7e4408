"""The programs the wire bench runs: main.py for the MicroPython Unix port (the agent, umqtt.simple
as shipped, umqtt.simple writing each packet once) and a CPython script for azure-iot-device.

Every program prints `bench: connected` once its session is up and, in "throughput" mode (the
agent also in "stream" mode: one pass of its loop after each send, instead of all sends first),
`bench: mark` (then sleeps 0.3 s so the bench can read the proxy's counters) and
`bench: done <acked> <ms>`, ms from the first send to the last PUBACK. In "wake" mode it sends one
message, waits for its PUBACK, disconnects cleanly and exits.
"""

# 60 bytes of JSON, as a sensor would send (for every n below 10**6)
BODY = """
def body(n):
    return ('{"n":%06d,"temperature":21.50,"humidity":48.250,"ok":true}' % n).encode()
"""


def _header(mode: str, count: int, cap_ms: int, **names) -> str:
    lines = [f"MODE = {mode!r}", f"N = {count}", f"CAP_MS = {cap_ms}"]
    lines += [f"{key} = {value!r}" for key, value in names.items()]
    return "\n".join(lines) + "\n" + BODY


AGENT = """
import time
from agent import Agent

agent = Agent.from_config()
if MODE == "wake":
    agent.send(body(0))  # queued before the link is up, as after a deep sleep
    agent.run(until=lambda: agent.stats["acked"] >= 1, for_ms=30000)
    agent.stop()
    print("bench: wake", agent.stats["acked"])
else:
    agent.run(until=lambda: agent.connected, for_ms=30000)
    print("bench: connected")
    agent.run(for_ms=300)  # the twin GET and its answer are not part of the figure
    print("bench: mark")
    time.sleep_ms(300)
    base = agent.stats["acked"]
    t0 = time.ticks_ms()
    for i in range(N):
        agent.send(body(i))
        if MODE == "stream":  # the documented send(); run() pattern: RAM while the link keeps up
            agent.run(for_ms=0)
    agent.run(
        until=lambda: agent.stats["acked"] - base >= N
        or time.ticks_diff(time.ticks_ms(), t0) > CAP_MS
    )
    ms = time.ticks_diff(time.ticks_ms(), t0)
    print("bench: done", agent.stats["acked"] - base, ms)
    agent.stop()
"""

# The Unix port has `tls` but no `ussl`, which this umqtt.simple imports for ssl=True: the
# bench's flash gets this wrap_socket (what micropython-lib's ssl.wrap_socket does over tls).
USSL = """
import tls


def wrap_socket(sock, key=None, cert=None, cadata=None, server_hostname=None, cert_reqs=0):
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cadata)
    ctx.verify_mode = cert_reqs
    return ctx.wrap_socket(sock, server_hostname=server_hostname)
"""

UMQTT_COMMON = """
import struct
import time
from umqtt.simple import MQTTClient


def read(path):
    with open(path, "rb") as f:
        return f.read()


SSL = {"key": read(KEY), "cert": read(CERT), "cadata": read(TRUST),
       "server_hostname": HOST, "cert_reqs": 2}


class OneWrite(MQTTClient):
    # umqtt.simple with each QoS 1 PUBLISH built in one buffer and written once; the caller
    # keeps up to WINDOW in flight and reads PUBACKs (the only packets this client gets).
    buf = bytearray(512)
    ack = bytearray(4)

    def publish_nowait(self, topic, msg):
        self.pid = pid = self.pid % 65535 + 1
        buf = self.buf
        size = 2 + len(topic) + 2 + len(msg)
        buf[0] = 0x32
        i = 1
        while size > 0x7F:
            buf[i] = (size & 0x7F) | 0x80
            size >>= 7
            i += 1
        buf[i] = size
        struct.pack_into("!H", buf, i + 1, len(topic))
        i += 3
        buf[i : i + len(topic)] = topic
        i += len(topic)
        struct.pack_into("!H", buf, i, pid)
        i += 2
        buf[i : i + len(msg)] = msg
        self.sock.write(buf, i + len(msg))
        return pid

    def wait_puback(self):
        view = memoryview(self.ack)
        got = 0
        while got < 4:
            got += self.sock.readinto(view[got:])
        assert self.ack[0] == 0x40, self.ack


client = (OneWrite if WINDOW else MQTTClient)(
    DEVICE_ID, HOST, PORT, user=USER, password="", keepalive=60, ssl=True, ssl_params=SSL
)
client.connect()
print("bench: connected")
if MODE == "wake":
    if WINDOW:
        client.publish_nowait(TOPIC, body(0))
        client.wait_puback()
    else:
        client.publish(TOPIC, body(0), qos=1)
    client.disconnect()
    print("bench: wake 1")
else:
    print("bench: mark")
    time.sleep_ms(300)
    t0 = time.ticks_ms()
    sent = acked = 0
    while acked < N and time.ticks_diff(time.ticks_ms(), t0) <= CAP_MS:
        if not WINDOW:
            client.publish(TOPIC, body(acked), qos=1)  # writes 4 times, waits for the PUBACK
            acked += 1
            continue
        while sent - acked < WINDOW and sent < N:
            client.publish_nowait(TOPIC, body(sent))
            sent += 1
        client.wait_puback()
        acked += 1
    while sent > acked:
        client.wait_puback()
        acked += 1
    ms = time.ticks_diff(time.ticks_ms(), t0)
    print("bench: done", acked, ms)
    client.disconnect()
"""

SDK = """
import asyncio
import time
import warnings

import paho.mqtt.client as paho
from azure.iot.device import X509
from azure.iot.device.aio import IoTHubDeviceClient

warnings.simplefilter("ignore")  # the SDK's TLS 1.2 constant is deprecated: not our concern
_connect = paho.Client.connect


def connect(self, host, port=1883, *args, **kwargs):  # the SDK always dials 8883
    return _connect(self, host, PORT if port == 8883 else port, *args, **kwargs)


paho.Client.connect = connect


async def main():
    client = IoTHubDeviceClient.create_from_x509_certificate(
        X509(CERT, KEY), hostname=HOST, device_id=DEVICE_ID,
        server_verification_cert=open(TRUST).read(), connection_retry=False, keep_alive=60,
    )
    await client.connect()
    print("bench: connected", flush=True)
    if MODE == "wake":
        await client.send_message(body(0).decode())
        await client.shutdown()
        print("bench: wake 1", flush=True)
        return
    print("bench: mark", flush=True)
    await asyncio.sleep(0.3)
    t0 = time.perf_counter()
    # all N at once: the SDK queues them and paho keeps its own in-flight window
    tasks = [asyncio.ensure_future(client.send_message(body(i).decode())) for i in range(N)]
    done, _ = await asyncio.wait(tasks, timeout=CAP_MS / 1000)
    ms = int((time.perf_counter() - t0) * 1000)
    print("bench: done", len(done), ms, flush=True)
    await client.shutdown()


asyncio.run(main())
"""


def agent_main(mode: str, count: int, cap_ms: int) -> str:
    return _header(mode, count, cap_ms) + AGENT


def umqtt_main(mode: str, count: int, cap_ms: int, window: int, **names) -> str:
    """`window` 0: umqtt.simple's own publish(qos=1); else OneWrite with that many in flight."""
    return _header(mode, count, cap_ms, WINDOW=window, **names) + UMQTT_COMMON


def sdk_script(mode: str, count: int, cap_ms: int, **names) -> str:
    return _header(mode, count, cap_ms, **names) + SDK
