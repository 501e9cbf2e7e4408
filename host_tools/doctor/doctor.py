"""`doctor`: why a device does not connect, one line per check, each with its fix.

Reads what the board runs and holds over mpremote, judges it with the host's own rules (the
checks in checks.py), then lets the board try one real connection with the firmware's agent.
"""

import tempfile
import time
from pathlib import Path

from host_tools.doctor import checks
from host_tools.doctor.board import (
    CONNECT_TIMEOUT_S,
    board_read_facts,
    board_read_file,
    board_release,
    board_try_connect,
)
from host_tools.doctor.checks import FAIL, Check
from host_tools.doctor.hub_side import azure_target, dps_target, emulator_target, emulator_verdict
from host_tools.errors import UserError


def run_doctor(
    port: str,
    hub_data=None,
    hub_host: str | None = None,
    connect: bool = True,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> list[Check]:
    """Check the board on `port` against its hub; returns the Check lines, in order.

    `hub_data`: the emulator's data folder; `hub_host`: an Azure IoT Hub's host name; neither:
    the hub config.json names, as Azure. `connect=False` skips the connection attempt.
    UserError when the port (or the hub folder) cannot be used.
    """
    from host_tools.deploy.ports import open_transport

    if hub_data is not None and hub_host is not None:
        raise UserError("pass --hub-data (the emulator) or --hub-host (Azure), not both")
    target = emulator_target(hub_data) if hub_data is not None else None
    transport = open_transport(port)
    try:
        return _diagnose(transport, target, hub_host, connect, timeout_s)
    finally:
        board_release(transport)


def has_failure(results: list[Check]) -> bool:
    return any(result.status == FAIL for result in results)


def _diagnose(transport, target, hub_host, connect, timeout_s) -> list[Check]:
    from host_tools.deploy.device_config import CREDENTIAL_KEYS, dps_settings, validate_config

    facts = board_read_facts(transport)
    host_now = time.time()
    results = [
        checks.check_micropython(facts.version, facts.has_tls, facts.machine),
        checks.check_heap(facts.mem_free, facts.word_bits),
    ]
    clock_at = len(results)
    config_check, config = checks.check_config(facts.config_text, validate_config)
    results.append(config_check)
    after = None
    if config is not None:
        dps = dps_settings(config)
        if target is None and hub_host is None and dps is not None:
            target = dps_target(dps["endpoint"], dps["port"])  # the first server the board meets
        target = target or azure_target(hub_host or config["hub_host"])
        files = {
            key: board_read_file(transport, config[key])
            for key in CREDENTIAL_KEYS
            if config.get(key)
        }
        results += [checks.check_board_file(key, config[key], data) for key, data in files.items()]
        assigned = None if dps is None else _board_assignment(transport, dps)
        results += _hub_checks(config, files, target, dps, assigned)
        if connect and facts.has_tls:
            outcome = board_try_connect(transport, timeout_s)
            results.append(
                checks.check_connection(outcome.outcome, outcome.message, _where(config, dps))
            )
            after = outcome.unix_time_after
    results.insert(clock_at, checks.check_clock(facts.unix_time, host_now, after))
    return results


def _where(config: dict, dps: dict | None) -> str:
    if dps is None:
        return f"{config['hub_host']}:{config.get('hub_port', 8883)}"
    return f"the hub DPS {dps['endpoint']}:{dps['port']} assigns"


def _board_assignment(transport, dps: dict) -> tuple | None:
    """(hub, device id) DPS assigned the board, read by the firmware's own config_assigned from
    the board's provisioned.json (or the .tmp a power cut left), or None: not registered yet."""
    from host_tools.firmware_config import firmware_config

    firmware = firmware_config()
    with tempfile.TemporaryDirectory(prefix="doctor-") as folder:
        local = Path(folder) / firmware.ASSIGNED_FILE
        for suffix in ("", ".tmp"):
            data = board_read_file(transport, firmware.ASSIGNED_FILE + suffix)
            if data is not None:
                Path(f"{local}{suffix}").write_bytes(data)
        return firmware.config_assigned(dps, str(local))


def _hub_checks(
    config: dict, files: dict, target, dps: dict | None = None, assigned: tuple | None = None
) -> list[Check]:
    """Certificate, trust bundle, address and registration, against `target` (a HubTarget).

    With `dps` (the dps section) the hub is DPS's choice: one provisioning line (`assigned`: what
    the board keeps from DPS) replaces the address and registration checks.
    """
    from host_tools.certs.certfiles import thumbprints

    results = []
    chain, self_signed = [], False
    if not config.get("sas_key") and files.get("cert_file"):
        found, chain, self_signed = _certificate_checks(config, files, dps)
        results += found
    if files.get("trust_file"):
        results.append(_trust_check(config["trust_file"], files["trust_file"], target.roots))
    if target.data_dir is not None:
        results.append(checks.check_hub_running(target.running, target.data_dir))
    if dps is not None:
        results.append(checks.check_dps(dps, assigned))
        return results
    if target.host_name is not None:
        results.append(
            checks.check_hub_address(config, target.host_name, target.port, target.label)
        )
    if target.data_dir is not None and chain:
        try:
            verdict = emulator_verdict(target, config["device_id"], chain)
        except UserError as exc:  # no registry to read: the hub was never started there
            verdict = str(exc)
        thumbprint = thumbprints(chain[0])[1]
        results.append(
            checks.check_registration(
                config["device_id"], verdict, thumbprint, self_signed, target.data_dir
            )
        )
    return results


def _certificate_checks(
    config: dict, files: dict, dps: dict | None = None
) -> tuple[list[Check], list, bool]:
    """(checks, the certificates in cert_file, self-signed?) via `certs inspect`."""
    from host_tools.certs import keys
    from host_tools.certs.certfiles import common_name, parse_certificates
    from host_tools.certs.inspect import inspect_path

    path = config["cert_file"]
    try:
        chain = parse_certificates(files["cert_file"], path)
    except UserError as exc:
        return [Check("certificate", FAIL, str(exc), checks.DEPLOY_FIX)], [], False
    with tempfile.TemporaryDirectory(prefix="doctor-") as folder:
        # a neutral name: inspect must not pair it with a key file by our naming
        copy = Path(folder) / "board-certificate"
        copy.write_bytes(files["cert_file"])
        leaf = inspect_path(copy).certificates[0]
    self_signed = leaf.chain_detail == "self-signed"
    name = config["device_id"] if dps is None else dps["registration_id"]
    results = [
        checks.check_certificate_validity(leaf),
        checks.check_certificate_name(
            common_name(chain[0].subject), name, self_signed, dps is not None
        ),
    ]
    if files.get("key_file"):
        # the key stays in memory: never written to the host's disk, never printed
        try:
            key = keys.parse_private_key(files["key_file"], config["key_file"])
            matches = keys.public_keys_equal(key.public_key(), chain[0].public_key())
            results.append(checks.check_key_pair(matches))
        except UserError as exc:
            results.append(checks.check_key_pair(None, str(exc)))
    results.append(checks.check_chain(leaf, "the hub" if dps is None else "DPS"))
    return results, chain, self_signed


def _trust_check(path: str, data: bytes, required: dict) -> Check:
    from host_tools.certs.certfiles import parse_certificates, thumbprints

    try:
        present = {thumbprints(cert)[1] for cert in parse_certificates(data, path)}
    except UserError as exc:
        return Check("trust bundle", FAIL, str(exc), checks.DEPLOY_FIX)
    return checks.check_trust_bundle(path, present, required)
