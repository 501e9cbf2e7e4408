"""config.json version 1 (docs/architecture.md): validate it and write it atomically.

Validation is the firmware's own: firmware/config.py's config_validate, run under CPython
(host_tools/firmware_config.py), plus what only the host can check (the device id's characters).
The defaults are the firmware's too; the host adds the credential files a device folder holds.
"""

import json
import os
import tempfile
from pathlib import Path

from host_tools.certs.device_id import device_id_problem
from host_tools.errors import UserError
from host_tools.firmware_config import firmware_config

# the keys `config` writes: version 1 as docs/architecture.md shows it
WRITTEN_KEYS = (
    "hub_host",
    "hub_port",
    "device_id",
    "cert_file",
    "key_file",
    "sas_key",
    "trust_file",
    "wifi_ssid",
    "wifi_password",
    "telemetry_interval_s",
    "keepalive_s",
    "model_id",
)
CREDENTIAL_KEYS = ("cert_file", "key_file", "trust_file")
# The firmware has no default credentials (a board must be told): these are the files `certs
# device` writes into a device folder, and CHAIN_FILE beside the leaf when CA-signed (the leaf,
# then its CAs up to the root).
DEVICE_CERT_FILE = "certs/device.crt.der"
DEVICE_KEY_FILE = "certs/device.key.der"
CHAIN_FILE = "certs/chain.pem"
_FIRMWARE_PREFIX = "config.json: "


def config_defaults() -> dict:
    """What `config` writes when told nothing more: the firmware's defaults, X.509 files named."""
    firmware = firmware_config().DEFAULTS
    defaults = {key: firmware.get(key) for key in WRITTEN_KEYS}
    defaults.update(cert_file=DEVICE_CERT_FILE, key_file=DEVICE_KEY_FILE)
    return defaults


def validate_config(config: dict, where: str = "config.json") -> dict:
    """The firmware's own boot-time rules (one-line errors), then the hub's device id rules."""
    firmware = firmware_config()
    try:
        firmware.config_validate(config)
    except firmware.AgentError as exc:
        message = exc.message.removeprefix(_FIRMWARE_PREFIX)
        raise UserError(f"{where}: {message}") from None
    problem = device_id_problem(config["device_id"])
    if problem:
        raise UserError(f"{where}: device_id {config['device_id']!r} is not valid: {problem}")
    return config


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
    config = config_defaults()
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
