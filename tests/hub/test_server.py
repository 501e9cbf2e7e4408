"""The emulator over real TLS with a raw MQTT device: connect, publish, subscribe, refuse."""


from host_tools.hub import mqtt
from tests.hub.device import Device


def connect_self_signed(hub, credentials, **kwargs):
    files = credentials["self_signed"]
    hub.register_x509("dev-self", files.sha1)
    device = Device(hub, "dev-self", files.cert_pem, files.key_pem)
    connack = device.connect(**kwargs)
    return device, connack


def test_connect_self_signed_registered_thumbprint_accepted(hub, credentials):
    device, connack = connect_self_signed(hub, credentials)
    assert connack.return_code == 0
    device.publish("devices/dev-self/messages/events/%24.mid=1&temp=21", b"{}", qos=1)
    assert device.expect(mqtt.PUBACK).packet_id == 1
    record = hub.wait_for_telemetry(1)[0]
    assert record.device_id == "dev-self"
    assert record.properties == {"$.mid": "1", "temp": "21"}
    assert record.body == b"{}"
