"""The DPS endpoint's MQTT side over real TLS with a raw client (the hub tests' `Device`)."""

import types

from host_tools.hub import mqtt
from tests.hub.device import Device

REGISTRATION_ID = "dps-raw"


def dps_device(hub):
    endpoint = types.SimpleNamespace(
        ca_file=hub.ca_file, port=hub.dps.port, host_name=hub.dps.host_name
    )
    return Device(endpoint, REGISTRATION_ID)


def dps_user_name(hub):
    return f"{hub.dps.id_scope}/registrations/{REGISTRATION_ID}/api-version=2019-03-31"


def closed_reasons(hub):
    return [e.reason for e in hub.connection_log if e.event == "closed"]


def test_connect_accepted_then_pingreq_answered(hub):
    device = dps_device(hub)
    assert device.connect(user_name=dps_user_name(hub)).return_code == 0
    device.send_raw(mqtt.PINGREQ_BYTES)
    assert device.expect(mqtt.PINGRESP) is not None


def test_connect_wrong_id_scope_refused_not_authorized(hub):
    device = dps_device(hub)
    connack = device.connect(user_name=f"0ne-other/registrations/{REGISTRATION_ID}/api-version=1")
    assert connack.return_code == mqtt.CONNACK_NOT_AUTHORIZED
    assert device.is_closed()


def test_second_connect_closes_the_connection_with_its_reason(hub):
    device = dps_device(hub)
    assert device.connect(user_name=dps_user_name(hub)).return_code == 0
    packet = mqtt.Connect(client_id=REGISTRATION_ID, user_name=dps_user_name(hub))
    device.send_raw(mqtt.encode_connect(packet))
    assert device.is_closed()
    assert closed_reasons(hub)[-1] == "DPS: second CONNECT on one connection"


def test_connect_huge_remaining_length_closed_before_authentication(hub):
    device = dps_device(hub)
    device.send_raw(bytes([mqtt.CONNECT << 4]) + mqtt.encode_remaining_length(200_000))
    assert device.is_closed(timeout=2)
    assert closed_reasons(hub)[-1].startswith("DPS: protocol error: packet of 200000 bytes")
