"""config.json version 1 (docs/architecture.md): validate it and write it atomically."""

import base64
import binascii
import json
import os
import tempfile
from pathlib import Path

from host_tools.certs.device_id import device_id_problem
from host_tools.errors import UserError

DEFAULTS = {
    "hub_host": None,
    "hub_port": 8883,
    "device_id": None,
    "cert_file": "certs/device.crt.der",
    "key_file": "certs/device.key.der",
    "sas_key": None,
    "trust_file": "certs/trust.pem",
    "wifi_ssid": "",
    "wifi_password": "",
    "telemetry_interval_s": 60,
    "keepalive_s": 60,
    "model_id": None,
}
CREDENTIAL_KEYS = ("cert_file", "key_file", "trust_file")
# what `certs device --ca` writes beside the leaf: the leaf, then its CAs up to the root
CHAIN_FILE = "certs/chain.pem"
TEXT_KEYS = (*CREDENTIAL_KEYS, "sas_key", "wifi_ssid", "wifi_password", "model_id")
# limits the firmware applies at boot (firmware/config.py; tests/firmware/test_config_contract.py
# holds both sides to them): time.ticks_add reaches 2**29 ms (6.2 days) on 32-bit ports, and a
# SAS token lives a day at most
INTERVAL_MAX_S = 518400
SAS_TTL_MAX_S = 86400
NUMBER_RANGES = {"telemetry_interval_s": (0.01, INTERVAL_MAX_S), "sas_ttl_s": (60, SAS_TTL_MAX_S)}
SAS_KEY_MIN_BYTES = 16


def validate_config(config: dict, where: str = "config.json") -> dict:
    """The same rules the firmware applies at boot, checked on the host first (one-line errors)."""
    if not isinstance(config, dict):
        raise UserError(f"{where} must be a JSON object")
    host = config.get("hub_host")
    if not host or not isinstance(host, str):
        raise UserError(f"{where}: hub_host is missing (for example myhub.azure-devices.net)")
    if any(c in host for c in "/: "):
        raise UserError(f"{where}: hub_host must be a bare host name, got {host!r}")
    if not config.get("device_id") or not isinstance(config["device_id"], str):
        raise UserError(f"{where}: device_id is missing")
    problem = device_id_problem(config["device_id"])
    if problem:
        raise UserError(f"{where}: device_id {config['device_id']!r} is not valid: {problem}")
    port = config.get("hub_port", 8883)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise UserError(f"{where}: hub_port must be a port number, got {port!r}")
    _check_types(config, where)
    cert, key, sas = config.get("cert_file"), config.get("key_file"), config.get("sas_key")
    if sas and (cert or key):
        raise UserError(f"{where}: use either cert_file + key_file (X.509) or sas_key, not both")
    if not sas and not (cert and key):
        raise UserError(f"{where}: X.509 needs both cert_file and key_file (or set sas_key)")
    if sas and not _is_device_key(sas):
        raise UserError(f"{where}: sas_key is not a base64 device key")
    if not config.get("trust_file"):
        raise UserError(f"{where}: trust_file is missing")
    return config


def _check_types(config: dict, where: str) -> None:
    """Strings where the firmware wants strings, numbers within the firmware's ranges."""
    for key in TEXT_KEYS:
        value = config.get(key)
        if value not in (None, "") and not isinstance(value, str):
            # the type only: the value may be a key or a password
            raise UserError(f"{where}: {key} must be a string, got a {type(value).__name__}")
    for key, (low, high) in NUMBER_RANGES.items():
        if key not in config:
            continue  # the firmware's default applies
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{where}: {key} must be a number, got {value!r}")
        if not low <= value <= high:  # NaN fails it too
            raise UserError(f"{where}: {key} must be between {low} and {high}, got {value}")


def _is_device_key(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) >= SAS_KEY_MIN_BYTES
    except (binascii.Error, ValueError):
        return False


def build_config(
    hub_host: str,
    device_id: str,
    hub_port: int = 8883,
    sas_key: str | None = None,
    device_dir=None,
    **overrides,
) -> dict:
    """A config.json v1 dict: defaults, then the given values; X.509 unless sas_key is set.

    With `device_dir` holding `certs/chain.pem` (a CA-signed identity), the default cert_file
    is that chain: the hub refuses a leaf whose intermediates it cannot see.
    """
    config = dict(DEFAULTS)
    config.update(hub_host=hub_host, hub_port=hub_port, device_id=device_id)
    if sas_key:
        config.update(sas_key=sas_key, cert_file=None, key_file=None)
    elif device_dir is not None and (Path(device_dir) / CHAIN_FILE).is_file():
        config["cert_file"] = CHAIN_FILE
    for name, value in overrides.items():
        if value is not None:
            config[name] = value
    return validate_config(config)


def write_config(device_dir, config: dict) -> Path:
    """Write DEVICE_DIR/config.json atomically (temporary file, fsync, rename)."""
    validate_config(config)
    device_dir = Path(device_dir)
    device_dir.mkdir(parents=True, exist_ok=True)
    path = device_dir / "config.json"
    data = (json.dumps(config, indent=2) + "\n").encode()
    fd, tmp = tempfile.mkstemp(dir=device_dir, prefix=".config.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_config(device_dir) -> dict:
    path = Path(device_dir) / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(
            f"{path} is missing: write it with `python -m host_tools config {device_dir} ...`"
        ) from None
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None
    return validate_config(config, str(path))
