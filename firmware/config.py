# config.py: config.json (version 1) validated into a dict of values, or one AgentError line.
# config_validate is pure; config_load reads the file (and checks referenced files exist), after
# config_recover has finished or undone a switch a power cut interrupted. The one contract: the
# host's `config`/`deploy` run config_validate under CPython (host_tools/firmware_config.py), and
# docs/firmware.md's table is checked against DEFAULTS and these limits (test_config_contract.py).
from errors import AgentError
from micropython import const

_KEEPALIVE_MAX_S = const(1177)  # the hub drops a client after 1.5x keep-alive, capped at 1767 s
# time.ticks_add() reaches 2**29 ms (6.2 days) on 32-bit ports (ESP32): any delay past it raises.
_INTERVAL_MAX_S = const(518400)  # 6 days
# SAS tokens: a day at most. A leaked token is good until it expires, and renewing costs one
# reconnect a day.
_SAS_TTL_MAX_S = const(86400)
# With a dps section: the hub and device id DPS assigned, written by dps.py once assigned.
ASSIGNED_FILE = "provisioned.json"
DPS_ENDPOINT = "global.azure-devices-provisioning.net"

# No default credentials: a board must be told (the host's `config` names the device folder's).
DEFAULTS = {
    "hub_port": 8883,
    "cert_file": None,
    "key_file": None,
    "sas_key": None,
    "trust_file": "certs/trust.pem",
    "wifi_ssid": "",
    "wifi_password": "",
    "wifi_timeout_s": 30,
    "telemetry_interval_s": 60,
    "keepalive_s": 60,
    "model_id": None,
    "sas_ttl_s": 3600,
    "ntp_host": None,
    "watchdog_s": 60,
    "led_pin": None,
    "led_active_low": False,
    "outbox_dir": "outbox",
    "outbox_max": 1000,
    "outbox_policy": "drop_oldest",
    "retry_min_s": 1,
    "retry_max_s": 120,
    "retry_auth_s": 900,
    "io_timeout_s": 20,
    "max_incoming": 16384,
    "dps": None,
}


def _fail(message):
    return AgentError("config", "config.json: " + message)


def _number(values, key, low, high):
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail("%s must be a number, got %r" % (key, value))
    if not low <= value <= high:  # written so that NaN fails it too
        raise _fail("%s must be between %s and %s, got %s" % (key, low, high, value))
    return value


def _text(values, key, required=False):
    value = values[key]
    if value is None or value == "":
        if required:
            raise _fail(key + " is missing")
        return value
    if not isinstance(value, str):
        # the type only: the value may be a key or a password
        raise _fail("%s must be a string, got a %s" % (key, type(value).__name__))
    return value


def config_validate(raw):
    if not isinstance(raw, dict):
        raise _fail("must be a JSON object")
    values = dict(DEFAULTS)
    for key in raw:
        values[key] = raw[key]
    if values["dps"] is not None:
        # The hub and the device id come from provisioning (config_load adds them once assigned);
        # until then the registration id stands for the device id (topics of queued messages).
        if "hub_host" in values or "device_id" in values:
            raise _fail("with a dps section DPS assigns hub_host and device_id: remove them")
        values["dps"] = _dps(values["dps"])
        values["hub_host"] = None
        values["device_id"] = values["dps"]["registration_id"]
    else:
        host = _text(values, "hub_host", True) if "hub_host" in values else None
        if not host:
            raise _fail(
                "hub_host is missing (for example myhub.azure-devices.net), or add a dps section"
            )
        _host_name("hub_host", host)
        device_id = _text(values, "device_id", True) if "device_id" in values else None
        if not device_id:
            raise _fail("device_id is missing")
    _number(values, "hub_port", 1, 65535)
    cert = _text(values, "cert_file")
    key = _text(values, "key_file")
    sas_key = _text(values, "sas_key")
    if sas_key and (cert or key):
        raise _fail("use either cert_file + key_file (X.509) or sas_key, not both")
    if not sas_key and not (cert and key):
        if cert or key:
            raise _fail("X.509 needs both cert_file and key_file")
        raise _fail("no credentials: set cert_file + key_file (X.509) or sas_key")
    if sas_key and not _sas_key_is_valid(sas_key):
        raise _fail("sas_key is not a base64 device key")
    values["auth"] = "sas" if sas_key else "x509"
    _text(values, "trust_file", True)
    _text(values, "wifi_ssid")
    _text(values, "wifi_password")
    _text(values, "model_id")
    _text(values, "ntp_host")
    _text(values, "outbox_dir", True)
    _number(values, "telemetry_interval_s", 0.01, _INTERVAL_MAX_S)
    keepalive = values["keepalive_s"]
    if (
        isinstance(keepalive, (int, float))
        and not isinstance(keepalive, bool)
        and keepalive > _KEEPALIVE_MAX_S
    ):
        raise _fail(
            "keepalive_s must be at most %d (the hub's limit), got %s"
            % (_KEEPALIVE_MAX_S, keepalive)
        )
    _number(values, "keepalive_s", 5, _KEEPALIVE_MAX_S)
    values["keepalive_s"] = int(keepalive)
    _number(values, "wifi_timeout_s", 1, 600)
    _number(values, "sas_ttl_s", 60, _SAS_TTL_MAX_S)
    _number(values, "watchdog_s", 0, 3600)
    _number(values, "outbox_max", 1, 1000000)
    _number(values, "retry_min_s", 0.01, 3600)
    _number(values, "retry_max_s", 0.01, 86400)
    _number(values, "retry_auth_s", 0.01, 86400)
    _number(values, "io_timeout_s", 0.1, 600)
    _number(values, "max_incoming", 256, 1048576)
    if values["outbox_policy"] not in ("drop_oldest", "drop_newest"):
        raise _fail("outbox_policy must be drop_oldest or drop_newest")
    pin = values["led_pin"]
    if pin is not None and (isinstance(pin, bool) or not isinstance(pin, int)):
        raise _fail("led_pin must be a pin number or null")
    return values


def _host_name(key, host):
    if "/" in host or ":" in host or " " in host:
        raise _fail("%s must be a bare host name, got %r" % (key, host))


def _dps(raw):
    # {"id_scope", "registration_id", "endpoint", "port", "payload"} with the defaults filled in.
    if not isinstance(raw, dict):
        raise _fail("dps must be an object with id_scope and registration_id")
    d = {"endpoint": DPS_ENDPOINT, "port": 8883, "payload": None}
    for key in raw:
        if key not in ("id_scope", "registration_id", "endpoint", "port", "payload"):
            raise _fail(
                "dps has no setting %r (id_scope, registration_id, endpoint, port, payload)" % key
            )
        d[key] = raw[key]
    for key in ("id_scope", "registration_id", "endpoint"):
        value = d.get(key)
        if not value or not isinstance(value, str):
            raise _fail("dps.%s is missing or not a string" % key)
    if "/" in d["id_scope"] or " " in d["id_scope"]:
        raise _fail("dps.id_scope must look like 0ne0012ABCD, got %r" % d["id_scope"])
    reg = d["registration_id"]
    if len(reg) > 128 or "/" in reg or " " in reg:
        raise _fail("dps.registration_id must be up to 128 letters, digits, - . _ : got %r" % reg)
    _host_name("dps.endpoint", d["endpoint"])
    d["record_file"] = ASSIGNED_FILE  # where provisioning writes the answer (not a setting)
    port = d["port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise _fail("dps.port must be a port number, got %r" % (port,))
    return d


def config_load(path="config.json", exists=None):
    # exists(path) -> bool is injected for tests; the default uses os.stat.
    import json

    config_recover(path)
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise AgentError("config", "config.json: cannot read %s: deploy a device folder" % path)
    try:
        raw = json.loads(text)
    except ValueError:
        raise AgentError("config", "config.json: %s is not valid JSON" % path)
    values = config_validate(raw)
    if exists is None:
        exists = _exists
    for key in ("cert_file", "key_file", "trust_file"):
        name = values[key]
        if name and not exists(name):
            raise _fail("%s %s does not exist on the board" % (key, name))
    if values["dps"] is not None:
        assigned = config_assigned(values["dps"])
        if assigned is not None:
            values["hub_host"], values["device_id"] = assigned
    return values


def config_assigned(dps, path=ASSIGNED_FILE):
    # -> (hub host, device id) DPS assigned this registration, or None (provisioning is due).
    # dps.py writes PATH.tmp, removes PATH, renames: after a cut between the two, .tmp holds it.
    import json

    for name in (path, path + ".tmp"):
        try:
            with open(name) as f:
                record = json.loads(f.read())
            if (
                record["id_scope"] == dps["id_scope"]
                and record["registration_id"] == dps["registration_id"]
                and record["assigned_hub"]
                and record["device_id"]
            ):
                return record["assigned_hub"], record["device_id"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return None


def config_recover(path):
    # Where rename cannot replace a file (FAT), deploy switches config.json in three steps:
    # PATH -> PATH.old, PATH.tmp (complete, hash checked) -> PATH, remove PATH.old. After a power
    # cut between them: PATH missing -> the new file if it is there, else the old one back.
    import os

    old = path + ".old"
    if not _exists(old):
        return
    if not _exists(path):
        new = path + ".tmp"
        done = _exists(new)
        os.rename(new if done else old, path)
        print(
            "agent: %s the config.json switch a power cut interrupted"
            % ("finished" if done else "undid")
        )
    if _exists(old):
        os.remove(old)


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _sas_key_is_valid(key):
    from sas import sas_key_is_valid

    return sas_key_is_valid(key)
