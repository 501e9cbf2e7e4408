# Test table of provisioning's pure parts and its flash record: dps.py's topics and answers, and
# provision_store + config_assigned through every state a power cut can leave the record in.
# Runs under CPython and on the MicroPython Unix port; uses "dps_test" in the current directory.
import json
import os

from _cases import eq, table_main, table_make
from config import config_assigned
from dps import dps_outcome, dps_parse_response, dps_register_topic, dps_status_topic
from errors import AgentError
from provision import provision_store

CASES, case = table_make()
DIR = "dps_test"
PATH = DIR + "/provisioned.json"
DPS = {"id_scope": "0ne00ABC", "registration_id": "reg-1"}


def refused(fn, *args):
    try:
        fn(*args)
    except AgentError as exc:
        return exc.kind, exc.message
    raise AssertionError("no AgentError")


@case
def test_dps_request_topics():
    eq(dps_register_topic(7), b"$dps/registrations/PUT/iotdps-register/?$rid=7")
    eq(
        dps_status_topic(8, "4.a b"),
        b"$dps/registrations/GET/iotdps-get-operationstatus/?$rid=8&operationId=4.a%20b",
    )


@case
def test_dps_parse_response_reads_status_rid_retry_after_and_body():
    topic = b"$dps/registrations/res/202/?$rid=3&retry-after=2"
    eq(dps_parse_response(topic, b'{"operationId": "op"}'), (202, 3, 2, {"operationId": "op"}))
    eq(dps_parse_response(b"$dps/registrations/res/200/?$rid=4", b""), (200, 4, None, None))
    eq(dps_parse_response(b"$iothub/twin/res/200/?$rid=4", b"{}"), None)


@case
def test_dps_outcome_of_each_answer():
    eq(dps_outcome(202, {"operationId": "op", "status": "assigning"}, "r"), ("wait", "op"))
    eq(dps_outcome(429, None, "r"), ("wait", None))
    assigned = {"assignedHub": "h.azure-devices.net", "deviceId": "d-1"}
    document = {"status": "assigned", "registrationState": assigned}
    eq(dps_outcome(200, document, "r"), ("assigned", "h.azure-devices.net", "d-1"))
    kind, message = refused(dps_outcome, 200, {"status": "disabled"}, "r")
    eq(kind, "auth")
    eq("disabled" in message, True)
    kind, message = refused(dps_outcome, 401, {"message": "bad\nchain"}, "r")
    eq((kind, "bad chain" in message), ("auth", True))
    eq(refused(dps_outcome, 404, {}, "r")[0], "auth")
    # a hub name that would break the user name or a topic is not taken
    bad = {"status": "assigned", "registrationState": {"assignedHub": "h/x", "deviceId": "d"}}
    eq(refused(dps_outcome, 200, bad, "r")[0], "protocol")
    bad = {"status": "assigned", "registrationState": {"assignedHub": "h", "deviceId": "a/b"}}
    eq(refused(dps_outcome, 200, bad, "r")[0], "protocol")


def fresh(files):
    try:
        os.mkdir(DIR)
    except OSError:
        pass
    for name in os.listdir(DIR):
        os.remove(DIR + "/" + name)
    for suffix in files:
        with open(PATH + suffix, "w") as f:
            f.write(files[suffix])


def record(hub, scope="0ne00ABC", registration_id="reg-1"):
    return json.dumps(
        {
            "id_scope": scope,
            "registration_id": registration_id,
            "assigned_hub": hub,
            "device_id": "dev",
        }
    )


@case
def test_provision_store_then_config_assigned():
    fresh({})
    eq(config_assigned(DPS, PATH), None)
    provision_store(DPS, "a.azure-devices.net", "dev", PATH)
    eq(config_assigned(DPS, PATH), ("a.azure-devices.net", "dev"))
    provision_store(DPS, "b.azure-devices.net", "dev", PATH)  # replaces it
    eq(config_assigned(DPS, PATH), ("b.azure-devices.net", "dev"))
    eq(sorted(os.listdir(DIR)), ["provisioned.json"])


@case
def test_config_assigned_every_state_a_power_cut_leaves():
    # (files, what the board then believes)
    states = (
        ({".tmp": record("new")}, ("new", "dev")),  # cut after removing the old record
        ({"": record("old"), ".tmp": record("new")}, ("old", "dev")),  # before: old still good
        ({"": record("old"), ".tmp": '{"id_sc'}, ("old", "dev")),  # cut while writing .tmp
        ({".tmp": '{"id_sc'}, None),  # a first record cut short: provision again
        ({"": record("x", scope="0ne00OTHER")}, None),  # another scope: provision again
        ({"": record("x", registration_id="reg-2")}, None),
        ({"": "[]"}, None),
    )
    for files, expected in states:
        fresh(files)
        eq(config_assigned(DPS, PATH), expected)


def clean_up():
    try:
        fresh({})
        os.rmdir(DIR)
    except OSError:
        pass


if __name__ == "__main__":
    table_main("cases_dps", CASES, clean_up)
