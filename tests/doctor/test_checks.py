"""The doctor's checks as pure functions: tables of facts -> status and words."""

import json
from types import SimpleNamespace

import pytest

from host_tools.deploy.device_config import validate_config
from host_tools.doctor import checks
from host_tools.doctor.board import board_unix_time

HOST_NOW = 1_790_000_000.0  # 2026-09-21
Y2000 = 946684800


@pytest.mark.parametrize(
    ("board", "after", "status", "words"),
    [
        (HOST_NOW + 2, None, "pass", "2 s ahead of the host"),
        (HOST_NOW - 900, None, "warn", "900 s behind the host"),
        (Y2000, None, "fail", "2000-01-01 00:00:00 UTC: never set"),
        (board_unix_time(0, 2000), None, "fail", "never set"),  # an ESP32 just powered on
        (1_600_000_000, None, "fail", "never set"),  # 2020: before 2024 counts as unset
        (Y2000, HOST_NOW + 1, "warn", "the agent's NTP sync set it while connecting"),
        (Y2000, Y2000 + 40, "fail", "never set"),  # NTP did not help either
    ],
)
def test_check_clock_table(board, after, status, words):
    result = checks.check_clock(board, HOST_NOW, after)
    assert result.status == status
    assert words in result.detail
    if status == "fail":
        assert "NTP" in result.fix


def test_board_unix_time_esp32_epoch_2000_shifted():
    assert board_unix_time(0, 2000) == Y2000
    assert board_unix_time(5, 1970) == 5


@pytest.mark.parametrize(
    ("version", "tls", "status"),
    [
        ((1, 25, 0), True, "pass"),
        ((1, 23, 0), True, "pass"),
        ((1, 22, 2), True, "fail"),
        ((1, 24, 1), False, "fail"),
    ],
)
def test_check_micropython_table(version, tls, status):
    assert checks.check_micropython(version, tls).status == status


@pytest.mark.parametrize(
    ("free", "bits", "status"),
    [(200_000, 32, "pass"), (60_000, 32, "warn"), (40_000, 32, "fail"), (60_000, 64, "fail")],
)
def test_check_heap_table(free, bits, status):
    assert checks.check_heap(free, bits).status == status


GOOD = {
    "hub_host": "h.azure-devices.net",
    "device_id": "d1",
    "cert_file": "c",
    "key_file": "k",
    "trust_file": "t",
}


DPS_GOOD = {
    "dps": {"id_scope": "0ne00ABC123", "registration_id": "sensor-1"},
    "cert_file": "c",
    "key_file": "k",
    "trust_file": "t",
}


@pytest.mark.parametrize(
    ("text", "status", "words"),
    [
        (json.dumps(GOOD), "pass", "d1 on h.azure-devices.net:8883 (X.509)"),
        (None, "fail", "not on the board"),
        ("{not json", "fail", "not valid JSON"),
        (json.dumps({**GOOD, "hub_host": "h:8883"}), "fail", "bare host name"),
        (json.dumps({**GOOD, "key_file": None}), "fail", "X.509 needs both"),
        # provisioned by DPS: no hub_host or device_id in config.json
        (json.dumps(DPS_GOOD), "pass", "sensor-1 provisioned by DPS, id scope 0ne00ABC123 (X.509)"),
        (json.dumps({**DPS_GOOD, "hub_host": "h"}), "fail", "DPS assigns hub_host and device_id"),
        (
            json.dumps({**DPS_GOOD, "dps": {**DPS_GOOD["dps"], "registration_id": "s@1"}}),
            "fail",
            "is not valid for DPS",
        ),
    ],
)
def test_check_config_uses_host_validator(text, status, words):
    result, config = checks.check_config(text, validate_config)
    assert result.status == status
    assert words in result.detail
    assert (config is not None) == (status == "pass")


@pytest.mark.parametrize(
    ("cn", "self_signed", "status"),
    [("d1", False, "pass"), ("d2", True, "warn"), ("d2", False, "fail"), (None, False, "fail")],
)
def test_check_certificate_name_table(cn, self_signed, status):
    assert checks.check_certificate_name(cn, "d1", self_signed).status == status


@pytest.mark.parametrize(
    ("cn", "self_signed", "status"),
    [("d1", False, "pass"), ("d1", True, "pass"), ("d2", True, "fail"), ("d2", False, "fail")],
)
def test_check_certificate_name_dps_registration_id_is_the_cn_even_self_signed(
    cn, self_signed, status
):
    result = checks.check_certificate_name(cn, "d1", self_signed, dps=True)
    assert result.status == status
    assert "dps.registration_id" in result.detail


@pytest.mark.parametrize(
    ("assigned", "words"),
    [
        (None, "provisioned by DPS dps.localhost:8884, id scope 0ne1: the hub is not known until "),
        (("h.azure-devices.net", "d1"), "assigned d1 to h.azure-devices.net (provisioned.json)"),
    ],
)
def test_check_dps_says_where_the_hub_comes_from(assigned, words):
    dps = {"id_scope": "0ne1", "registration_id": "d1", "endpoint": "dps.localhost", "port": 8884}
    result = checks.check_dps(dps, assigned)
    assert (result.check, result.status) == ("provisioning", "pass")
    assert words in result.detail


def test_check_trust_bundle_names_missing_root():
    required = {"AA": "Root A", "BB": "Root B"}
    assert checks.check_trust_bundle("t.pem", {"AA", "BB", "CC"}, required).status == "pass"
    result = checks.check_trust_bundle("t.pem", {"AA"}, required)
    assert result.status == "fail"
    assert "lacks Root B" in result.detail
    assert "certs trust-bundle" in result.fix


@pytest.mark.parametrize(
    ("config", "status"),
    [
        ({"hub_host": "LocalHost", "hub_port": 8883}, "pass"),
        ({"hub_host": "other", "hub_port": 8883}, "fail"),
        ({"hub_host": "localhost", "hub_port": 1234}, "fail"),
    ],
)
def test_check_hub_address_table(config, status):
    assert checks.check_hub_address(config, "localhost", 8883, "the emulator").status == status


@pytest.mark.parametrize(
    ("reason", "self_signed", "fix"),
    [
        ("device 'd1' is not registered", True, "hub register d1 --thumbprint AB"),
        ("device 'd1' is not registered", False, "hub register d1 --ca"),
        ("device 'd1' is disabled", True, "hub enable d1"),
        ("device 'd1': client certificate expired on 2020-01-01", True, "issue a new certificate"),
        ("device 'd1': CA certificate 'root' is not verified", False, "hub ca verify"),
    ],
)
def test_check_registration_fix_follows_the_hubs_reason(reason, self_signed, fix):
    verdict = SimpleNamespace(accepted=False, reason=reason)
    result = checks.check_registration("d1", verdict, "AB", self_signed, "hub-data")
    assert result.status == "fail"
    assert result.detail == reason
    assert fix in result.fix


def test_check_line_format():
    assert (
        checks.Check("clock", "fail", "unset", "set it").line() == "fail  clock: unset; fix: set it"
    )
    assert checks.Check("heap", "pass", "ok").line() == "pass  heap: ok"
    assert checks.Check("heap", "pass", "ok").as_dict() == {
        "check": "heap",
        "status": "pass",
        "detail": "ok",
        "fix": "",
    }
