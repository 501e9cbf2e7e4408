"""The official Azure IoT device SDK for Python against the emulator, over X.509 mutual TLS.

The SDK always connects to port 8883; the test moves that one call to the hub's free port
(paho's `Client.connect`), and everything else is the SDK as users run it.
"""

import base64
import json
import queue

import paho.mqtt.client as paho
import pytest
from azure.iot.device import X509, IoTHubDeviceClient, Message, MethodResponse

# the SDK builds its own TLS 1.2-only context with a deprecated constant; not our concern
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def sdk_port(hub, monkeypatch):
    original = paho.Client.connect

    def connect(self, host, port=1883, *args, **kwargs):
        return original(self, host, hub.port if port == 8883 else port, *args, **kwargs)

    monkeypatch.setattr(paho.Client, "connect", connect)
    return hub.port


def sdk_client(hub, files, device_id):
    client = IoTHubDeviceClient.create_from_x509_certificate(
        X509(str(files.cert_pem), str(files.key_pem)),
        hostname=hub.host_name,
        device_id=device_id,
        server_verification_cert=hub.ca_file.read_text(),
        connection_retry=False,
        keep_alive=30,
    )
    return client


@pytest.mark.timeout(120)
def test_sdk_x509_device_full_round_trip(hub, sdk_port, credentials):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha256)
    client = sdk_client(hub, files, "dev-self")
    desired = queue.Queue()
    c2d = queue.Queue()

    def on_method(request):
        response = {"echo": request.payload, "name": request.name}
        client.send_method_response(
            MethodResponse.create_from_method_request(request, 200, response)
        )

    client.on_twin_desired_properties_patch_received = desired.put
    client.on_message_received = c2d.put
    client.on_method_request_received = on_method
    client.connect()
    try:
        message = Message(json.dumps({"temperature": 21.5}))
        message.message_id = "m-1"
        message.content_type = "application/json"
        message.content_encoding = "utf-8"
        message.custom_properties["alert"] = "a b/c"
        client.send_message(message)
        record = hub.wait_for_telemetry(1, "dev-self")[0]
        assert json.loads(record.body) == {"temperature": 21.5}
        assert record.properties["$.mid"] == "m-1"
        assert record.properties["$.ct"] == "application/json"
        assert record.properties["$.ce"] == "utf-8"
        assert record.properties["alert"] == "a b/c"

        client.patch_twin_reported_properties({"firmware": "1.0"})
        twin = client.get_twin()
        assert twin["reported"]["firmware"] == "1.0"
        assert hub.twin("dev-self")["reported"]["$version"] == twin["reported"]["$version"]

        hub.wait_for_connection("dev-self", topic_filter="$iothub/twin/PATCH/properties/desired/#")
        version = hub.update_desired("dev-self", {"interval": 5})
        patch = desired.get(timeout=10)
        assert patch == {"interval": 5, "$version": version}

        hub.wait_for_connection("dev-self", topic_filter="$iothub/methods/POST/#")
        status, payload = hub.invoke("dev-self", "reboot", {"delay": 1}, timeout=10)
        assert (status, payload) == (200, {"echo": {"delay": 1}, "name": "reboot"})

        hub.wait_for_connection("dev-self", topic_filter="devices/dev-self/messages/devicebound/#")
        hub.c2d("dev-self", "hello", {"kind": "greeting/1"})
        received = c2d.get(timeout=10)
        assert received.data == b"hello"
        assert received.custom_properties["kind"] == "greeting/1"
    finally:
        client.shutdown()


@pytest.mark.timeout(60)
def test_sdk_sas_device_sends_telemetry(hub, sdk_port):
    key = base64.b64encode(b"sdk-key-" * 4).decode()
    hub.register_sas("dev-sdk-sas", key)
    client = IoTHubDeviceClient.create_from_symmetric_key(
        key,
        hostname=hub.host_name,
        device_id="dev-sdk-sas",
        server_verification_cert=hub.ca_file.read_text(),
        connection_retry=False,
    )
    client.connect()
    try:
        client.send_message("ping")
        assert hub.wait_for_telemetry(1, "dev-sdk-sas")[0].body == b"ping"
    finally:
        client.shutdown()
