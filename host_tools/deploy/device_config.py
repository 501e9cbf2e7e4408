"""config.json version 1 (docs/architecture.md): validate it and write it atomically.

Validation is the firmware's own: firmware/config.py's config_validate, run under CPython
(host_tools/firmware_config.py), plus what only the host can check (the device id's characters,
DPS's registration id rules, and that an X.509 certificate's CN is the registration id). The
defaults are the firmware's too; the host adds the credential files a device folder holds.
"""

import json
import os
import tempfile
from pathlib import Path

from host_tools.certs.device_id import device_id_problem
from host_tools.dps.topics import registration_id_problem
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
# With a dps section DPS assigns the hub and the device id (the board keeps them in
# provisioned.json): the firmware refuses hub_host and device_id beside it, so `config` writes
# the dps section in their place.
DPS_WRITTEN_KEYS = ("dps", *(key for key in WRITTEN_KEYS if key not in ("hub_host", "device_id")))
# the dps section's keys, in the order `config` writes them
DPS_KEYS = ("id_scope", "registration_id", "endpoint", "port", "payload")
CREDENTIAL_KEYS = ("cert_file", "key_file", "trust_file")
# The firmware has no default credentials (a board must be told): these are the files `certs
# device` writes into a device folder, and CHAIN_FILE beside the leaf when CA-signed (the leaf,
# then its CAs up to the root).
DEVICE_CERT_FILE = "certs/device.crt.der"
DEVICE_KEY_FILE = "certs/device.key.der"
CHAIN_FILE = "certs/chain.pem"
_FIRMWARE_PREFIX = "config.json: "


def config_defaults(dps: bool = False) -> dict:
    """What `config` writes when told nothing more: the firmware's defaults, X.509 files named.

    `dps`: the keys of a config provisioned by DPS (a dps section, no hub_host or device_id).
    """
    firmware = firmware_config().DEFAULTS
    defaults = {key: firmware.get(key) for key in (DPS_WRITTEN_KEYS if dps else WRITTEN_KEYS)}
    defaults.update(cert_file=DEVICE_CERT_FILE, key_file=DEVICE_KEY_FILE)
    return defaults


def validate_config(config: dict, where: str = "config.json", device_dir=None) -> dict:
    """The firmware's own boot-time rules (one-line errors), then the hub's device id rules, or
    with a dps section DPS's registration id rules.

    `device_dir`: the device folder; with a dps section and X.509, the CN of the certificate
    config.json names (when it is there to read) must be the registration id.
    """
    firmware = firmware_config()
    try:
        values = firmware.config_validate(config)
    except firmware.AgentError as exc:
        message = exc.message.removeprefix(_FIRMWARE_PREFIX)
        raise UserError(f"{where}: {message}") from None
    if values["dps"] is None:
        problem = device_id_problem(config["device_id"])
        if problem:
            raise UserError(f"{where}: device_id {config['device_id']!r} is not valid: {problem}")
        return config
    registration_id = values["dps"]["registration_id"]
    problem = registration_id_problem(registration_id)
    if problem:
        raise UserError(
            f"{where}: dps.registration_id {registration_id!r} is not valid for DPS: {problem}"
        )
    if values["auth"] == "x509" and device_dir is not None:
        _check_registration_cn(Path(device_dir), values["cert_file"], registration_id, where)
    return config


def dps_settings(config: dict) -> dict | None:
    """config.json's dps section with the firmware's defaults filled in, or None without one."""
    dps = firmware_config().config_validate(config)["dps"]
    return None if dps is None else {key: dps[key] for key in DPS_KEYS}


def certificate_common_name(path: Path) -> str | None:
    """The CN of the first certificate in `path` (a leaf, or a chain led by its leaf), or None
    when the file is missing or holds no certificate."""
    from host_tools.certs.certfiles import common_name, parse_certificates

    try:
        return common_name(parse_certificates(path.read_bytes(), str(path))[0].subject)
    except (OSError, UserError, IndexError):
        return None


def _check_registration_cn(device_dir: Path, cert_file: str, registration_id: str, where: str):
    # DPS knows an X.509 device by its certificate's CN: any other registration id is refused.
    common_name = certificate_common_name(device_dir / cert_file)
    if common_name is not None and common_name != registration_id:
        raise UserError(
            f"{where}: dps.registration_id is {registration_id!r} but {cert_file} is issued to "
            f"CN {common_name!r}, and DPS knows an X.509 device by its CN; set the registration "
            f"id to {common_name!r} (config --registration-id) or issue the certificate for "
            f"{registration_id!r}"
        )


def build_config(
    hub_host: str | None = None,
    device_id: str | None = None,
    hub_port: int = 8883,
    sas_key: str | None = None,
    device_dir=None,
    dps: dict | None = None,
    **overrides,
) -> dict:
    """A config.json v1 dict: defaults, then the given values; X.509 unless sas_key is set.

    With `device_dir` holding `certs/chain.pem` (a CA-signed identity), the default cert_file
    is that chain: the hub refuses a leaf whose intermediates it cannot see.

    `dps` ({"id_scope", "registration_id"} and optionally "endpoint", "port", "payload"): the
    board asks DPS for its hub and device id, so `hub_host` and `device_id` must be None; the
    section is written with the firmware's defaults filled in.
    """
    if dps is not None and (hub_host is not None or device_id is not None):
        raise UserError(
            "with a dps section DPS assigns hub_host and device_id: pass neither (the id DPS "
            "knows the device by is dps's registration_id)"
        )
    config = config_defaults(dps=dps is not None)
    config["hub_port"] = hub_port
    if dps is None:
        config.update(hub_host=hub_host, device_id=device_id)
    else:
        config["dps"] = dps
    if sas_key:
        config.update(sas_key=sas_key, cert_file=None, key_file=None)
    elif device_dir is not None and (Path(device_dir) / CHAIN_FILE).is_file():
        config["cert_file"] = CHAIN_FILE
    for name, value in overrides.items():
        if value is not None:
            config[name] = value
    validate_config(config, device_dir=device_dir)
    if dps is not None:
        config["dps"] = dps_settings(config)
    return config


def write_config(device_dir, config: dict) -> Path:
    """Write DEVICE_DIR/config.json atomically (temporary file, fsync, rename)."""
    validate_config(config, device_dir=device_dir)
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
    return validate_config(config, str(path), device_dir)
