"""config.json's limits on both sides: the host's validate_config (deploy, config) and the
firmware's config_validate accept and refuse the same values of the fields they share."""

import pytest
from config import config_validate
from errors import AgentError

from host_tools.deploy.device_config import SAS_TTL_MAX_S, validate_config
from host_tools.errors import UserError

BASE = {
    "hub_host": "h.azure-devices.net",
    "device_id": "d1",
    "cert_file": "certs/c.der",
    "key_file": "certs/k.der",
    "trust_file": "certs/trust.pem",
}
SAS = {**BASE, "cert_file": None, "key_file": None}
KEY = "AAAAAAAAAAAAAAAAAAAAAA=="  # 16 bytes

CASES = [
    ({"sas_ttl_s": 60}, True),
    ({"sas_ttl_s": 59}, False),
    ({"sas_ttl_s": SAS_TTL_MAX_S}, True),
    ({"sas_ttl_s": SAS_TTL_MAX_S + 1}, False),
    ({"sas_ttl_s": 86400 * 365}, False),  # once accepted: overflowed time.ticks_add on ESP32
    ({"sas_ttl_s": "3600"}, False),
    ({"sas_ttl_s": True}, False),
    ({"telemetry_interval_s": 0.01}, True),
    ({"telemetry_interval_s": 518400}, True),
    ({"telemetry_interval_s": 518401}, False),
    ({"telemetry_interval_s": None}, False),
    ({"wifi_password": ""}, True),
    ({"wifi_password": None}, True),
    ({"wifi_password": 12345678}, False),
    ({"wifi_ssid": ["a"]}, False),
    ({"model_id": 1}, False),
    ({"trust_file": 5}, False),
    ({**SAS, "sas_key": KEY}, True),
    ({**SAS, "sas_key": "AAAA"}, False),  # base64, but 3 bytes
    ({**SAS, "sas_key": 1234567890}, False),
    ({**SAS, "sas_key": "!!"}, False),
]


def firmware_accepts(raw) -> bool:
    try:
        config_validate(raw)
        return True
    except AgentError:
        return False


def host_accepts(raw) -> bool:
    try:
        validate_config(dict(raw))
        return True
    except UserError:
        return False


@pytest.mark.parametrize("change, accepted", CASES, ids=lambda v: repr(v))
def test_config_host_and_firmware_agree(change, accepted):
    raw = {**BASE, **change}
    assert (host_accepts(raw), firmware_accepts(raw)) == (accepted, accepted)
