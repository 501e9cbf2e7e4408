"""config.json's one contract: the host's validate_config (deploy, config) and the firmware's
config_validate accept and refuse the same configs; the host writes the firmware's defaults; and
docs/firmware.md's table states the firmware's defaults and ranges."""

import json
import re

import config as firmware_config_module
import pytest
from config import config_validate
from errors import AgentError

from host_tools.deploy.device_config import build_config, config_defaults, validate_config
from host_tools.errors import UserError
from host_tools.paths import REPO_ROOT

SAS_TTL_MAX_S = 86400

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
    # the host once accepted these, and the board then refused them at boot
    ({"keepalive_s": 2000}, False),
    ({"keepalive_s": 1177}, True),
    ({"telemetry_interval_s": 0}, False),
    # keys the host once left unchecked
    ({"outbox_policy": "drop_all"}, False),
    ({"led_pin": "2"}, False),
    ({"retry_max_s": 0}, False),
    ({"io_timeout_s": "20"}, False),
    ({"max_incoming": 10**9}, False),
    ({"ntp_host": 123}, False),
    ({"hub_port": 0}, False),
    ({"hub_port": 65535}, True),
    ({"hub_host": "h.azure-devices.net:8883"}, False),
    ({"cert_file": None}, False),
    ({**SAS, "sas_key": KEY, "cert_file": "c.der"}, False),
]
# What only the host checks (the hub's rules for device ids): the board cannot tell.
HOST_ONLY = [
    ({"device_id": "bad id"}, False),
    ({"device_id": "d" * 129}, False),
]


# With a dps section: no hub_host or device_id (DPS assigns them), the section's own rules.
DPS = {"id_scope": "0ne00ABC123", "registration_id": "d1"}
DPS_BASE = {key: value for key, value in BASE.items() if key not in ("hub_host", "device_id")}
DPS_BASE["dps"] = DPS
DPS_CASES = [
    ({}, True),
    ({"dps": {**DPS, "endpoint": "dps.localhost", "port": 8884}}, True),
    ({"dps": {**DPS, "payload": {"site": "lab", "sensors": [1, 2]}}}, True),
    ({"dps": {**DPS, "payload": None}}, True),
    ({"hub_host": None}, False),  # present, even null
    ({"cert_file": None, "key_file": None, "sas_key": KEY}, True),
    ({"hub_host": "h.azure-devices.net"}, False),
    ({"device_id": "d1"}, False),
    ({"dps": {"id_scope": "0ne00ABC123"}}, False),
    ({"dps": {"registration_id": "d1"}}, False),
    ({"dps": "0ne00ABC123"}, False),
    ({"dps": {**DPS, "id_scope": "0ne 00"}}, False),
    ({"dps": {**DPS, "registration_id": "a/b"}}, False),
    ({"dps": {**DPS, "registration_id": "d" * 129}}, False),
    ({"dps": {**DPS, "registration_id": 7}}, False),
    ({"dps": {**DPS, "endpoint": "https://dps.example"}}, False),
    ({"dps": {**DPS, "endpoint": "dps.example:8883"}}, False),
    ({"dps": {**DPS, "port": 0}}, False),
    ({"dps": {**DPS, "port": 65535}}, True),
    ({"dps": {**DPS, "port": "8883"}}, False),
    ({"dps": {**DPS, "port": True}}, False),
    ({"dps": {**DPS, "colour": "red"}}, False),
    ({"dps": None, "hub_host": "h.azure-devices.net", "device_id": "d1"}, True),
    ({"hub_port": 0}, False),
    ({"cert_file": None}, False),
]
# DPS's registration id rules the board does not check (only '/', ' ' and the length)
DPS_HOST_ONLY = [
    ({"dps": {**DPS, "registration_id": "sensor@1"}}, False),
    ({"dps": {**DPS, "registration_id": "sensor-1."}}, False),
    ({"dps": {**DPS, "registration_id": "sensor_1:a-"}}, True),
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


@pytest.mark.parametrize("change, accepted", HOST_ONLY, ids=lambda v: repr(v))
def test_config_host_only_rules_refused_on_the_host_alone(change, accepted):
    raw = {**BASE, **change}
    assert (host_accepts(raw), firmware_accepts(raw)) == (accepted, True)


@pytest.mark.parametrize("change, accepted", DPS_CASES, ids=lambda v: repr(v))
def test_dps_config_host_and_firmware_agree(change, accepted):
    raw = {**DPS_BASE, **change}
    assert (host_accepts(raw), firmware_accepts(raw)) == (accepted, accepted)


@pytest.mark.parametrize("change, accepted", DPS_HOST_ONLY, ids=lambda v: repr(v))
def test_dps_registration_id_rules_refused_on_the_host_alone(change, accepted):
    raw = {**DPS_BASE, **change}
    assert (host_accepts(raw), firmware_accepts(raw)) == (accepted, True)


# -- docs/firmware.md's table ------------------------------------------------------------------
def docs_table():
    """{key: (default text, range text)} from docs/firmware.md's config.json table."""
    text = (REPO_ROOT / "docs" / "firmware.md").read_text()
    section = text[text.index("## config.json") :]
    section = section[: section.index("\n## ", 1)]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| `(\w+)` \|([^|]*)\|([^|]*)\|", line)
        if match:
            rows[match[1]] = (match[2].strip(), match[3].strip())
    return rows


def documented_ranges():
    ranges = []
    for key, (_, span) in sorted(docs_table().items()):
        if span:
            low, high = (float(x) if "." in x else int(x) for x in span.split(".."))
            ranges.append((key, low, high))
    return ranges


def test_docs_table_lists_every_key_with_the_firmware_default():
    table = docs_table()
    assert set(table) == set(firmware_config_module.DEFAULTS) | {"hub_host", "device_id"}
    for key, (default, _) in table.items():
        if default == "(required)":
            assert key not in firmware_config_module.DEFAULTS
            continue
        assert json.loads(default.strip("`")) == firmware_config_module.DEFAULTS[key], key


def test_docs_table_ranges_cover_every_number_the_firmware_checks():
    documented = {key for key, _, _ in documented_ranges()}
    numbers = {
        key
        for key, value in firmware_config_module.DEFAULTS.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    assert documented == numbers


@pytest.mark.parametrize(("key", "low", "high"), documented_ranges(), ids=lambda v: str(v))
def test_docs_range_is_what_host_and_firmware_enforce(key, low, high):
    step = 0.001 if isinstance(low, float) or isinstance(high, float) else 1
    base = {**BASE, key: low}
    for value, accepted in ((low, True), (high, True), (low - step, False), (high + step, False)):
        raw = {**base, key: value}
        assert (host_accepts(raw), firmware_accepts(raw)) == (accepted, accepted), (key, value)


# -- the defaults `config` writes --------------------------------------------------------------
def test_config_defaults_are_the_firmware_defaults_plus_the_device_folder_files():
    defaults = config_defaults()
    for key, value in defaults.items():
        if key in ("cert_file", "key_file"):
            continue  # the firmware has none: a board must be told which files
        assert firmware_config_module.DEFAULTS.get(key) == value, key
    assert (defaults["cert_file"], defaults["key_file"]) == (
        "certs/device.crt.der",
        "certs/device.key.der",
    )


def test_config_defaults_dps_are_the_firmware_defaults_without_hub_and_device_id():
    defaults = config_defaults(dps=True)
    assert "hub_host" not in defaults and "device_id" not in defaults
    assert defaults["dps"] is None
    for key, value in defaults.items():
        if key not in ("cert_file", "key_file"):
            assert firmware_config_module.DEFAULTS[key] == value, key


def test_build_config_dps_writes_the_section_with_the_firmware_defaults():
    written = build_config(dps=dict(DPS))
    assert "hub_host" not in written and "device_id" not in written
    assert written["dps"] == {
        **DPS,
        "endpoint": firmware_config_module.DPS_ENDPOINT,
        "port": 8883,
        "payload": None,
    }
    assert firmware_accepts(written)


def test_architecture_doc_example_is_what_config_writes():
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    section = text[text.index("### `config.json` (version 1)") :]
    example = json.loads(section[section.index("```json") + 7 : section.index("```\n", 10)])
    written = build_config("myhub.azure-devices.net", "sensor-001")
    assert example == written
