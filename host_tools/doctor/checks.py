"""The doctor's checks: each a small pure function from facts to one `Check` line.

No I/O here: the board's facts (board.py) and the hub's (hub_side.py) come in as arguments, so
each rule is tested as a table, and the firmware can later print the subset it can check itself.
The certificate, config and registration rules are not written here: they are the host's own
(`certs inspect`, `device_config.validate_config`, the emulator's `auth.authenticate`), called.
"""

import datetime
import json
from dataclasses import asdict, dataclass

from host_tools.errors import UserError

PASS, WARN, FAIL = "pass", "warn", "fail"

MICROPYTHON_MIN = (1, 23)  # the `tls` module (ssl before 1.23) and mpy v6.3, which deploy ships
# firmware/link.py's _CLOCK_MIN_UNIX: a board before 2024 never had its clock set
CLOCK_MIN_UNIX = 1704067200
CLOCK_SKEW_WARN_S = 300  # certificates start 5 minutes back (docs/credentials.md)
# heap a full agent session needs (tests/agent/test_agent_ram.py budgets), by word size; under
# HEAP_COMFORT times that, a larger message or key may not fit
HEAP_NEEDED = {32: 48 * 1024, 64: 72 * 1024}
HEAP_COMFORT = 1.5
DEPLOY_FIX = "deploy the device folder again (python -m host_tools deploy --port PORT DEVICE_DIR)"


@dataclass
class Check:
    """One line of the doctor's report: `status` is pass, warn or fail; `fix` may be empty."""

    check: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status}  {self.check}: {self.detail}"
        return text + (f"; fix: {self.fix}" if self.fix else "")

    def as_dict(self) -> dict:
        return asdict(self)


def utc_text(unix: float) -> str:
    try:
        moment = datetime.datetime.fromtimestamp(unix, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return f"unix time {unix}"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def check_micropython(version: tuple, has_tls: bool, machine: str = "") -> Check:
    """MicroPython >= 1.23 with the `tls` module."""
    shown = "v" + ".".join(str(part) for part in version) + (f" ({machine})" if machine else "")
    fix = "flash MicroPython 1.23 or later (python -m host_tools flash ...)"
    if tuple(version[:2]) < MICROPYTHON_MIN:
        return Check("micropython", FAIL, f"{shown} is older than 1.23: no tls module", fix)
    if not has_tls:
        return Check("micropython", FAIL, f"{shown} has no tls module: no TLS, no hub", fix)
    return Check("micropython", PASS, f"{shown} with tls")


def check_heap(mem_free: int, word_bits: int) -> Check:
    """Free heap against what a full agent session needs on a board of that word size."""
    needed = HEAP_NEEDED[64 if word_bits > 32 else 32]
    detail = (
        f"{mem_free // 1024} KB free ({word_bits}-bit), the agent needs about {needed // 1024} KB"
    )
    fix = "free RAM: fewer modules in boot.py, smaller buffers in main.py, or a board with PSRAM"
    if mem_free < needed:
        return Check("heap", FAIL, detail, fix)
    if mem_free < needed * HEAP_COMFORT:
        return Check("heap", WARN, detail + ": little room for large messages or RSA keys", fix)
    return Check("heap", PASS, detail)


def check_clock(board_unix: float, host_unix: float, after_unix: float | None = None) -> Check:
    """The board's clock is set (2024 or later) and near the host's.

    `after_unix`: the board's clock after the connection attempt, in which the agent syncs NTP.
    """
    skew = board_unix - host_unix
    if board_unix < CLOCK_MIN_UNIX:
        said = f"the board says {utc_text(board_unix)}: never set"
        if after_unix is not None and abs(after_unix - host_unix) <= CLOCK_SKEW_WARN_S:
            return Check("clock", WARN, said + "; the agent's NTP sync set it while connecting")
        return Check(
            "clock",
            FAIL,
            said + ", so every certificate looks not yet valid and TLS fails",
            "the agent sets it by NTP when it connects: check Wi-Fi and that UDP port 123 is "
            "open (ntp_host in config.json), or set machine.RTC().datetime(...) before connecting",
        )
    detail = (
        f"{utc_text(board_unix)}, {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the host"
    )
    if abs(skew) > CLOCK_SKEW_WARN_S:
        return Check(
            "clock",
            WARN,
            detail + ": certificates near their validity edges may be refused",
            "sync NTP on the board (ntp_host in config.json) or fix the host's clock",
        )
    return Check("clock", PASS, detail)


def check_config(config_text: str | None, validate) -> tuple[Check, dict | None]:
    """config.json on the board exists, is JSON and passes `validate` (the host's validator)."""
    if config_text is None:
        return Check("config.json", FAIL, "not on the board", DEPLOY_FIX), None
    try:
        config = json.loads(config_text)
    except ValueError as exc:
        return Check("config.json", FAIL, f"not valid JSON: {exc}", DEPLOY_FIX), None
    try:
        validate(config, "config.json")
    except UserError as exc:
        detail = str(exc).removeprefix("config.json: ")
        return Check(
            "config.json",
            FAIL,
            detail,
            "fix the device folder's config.json with "
            "python -m host_tools config DEVICE_DIR ..., then deploy it",
        ), None
    auth = "SAS" if config.get("sas_key") else "X.509"
    dps = config.get("dps")
    if dps is not None:
        detail = f"{dps['registration_id']} provisioned by DPS, id scope {dps['id_scope']} ({auth})"
        return Check("config.json", PASS, detail), config
    where = f"{config['hub_host']}:{config.get('hub_port', 8883)}"
    return Check("config.json", PASS, f"{config['device_id']} on {where} ({auth})"), config


def check_board_file(key: str, path: str, data: bytes | None) -> Check:
    """A file config.json names (`key`: cert_file, key_file, trust_file) is on the board."""
    if data is None:
        return Check(key, FAIL, f"{path} is named by config.json but not on the board", DEPLOY_FIX)
    if not data:
        return Check(key, FAIL, f"{path} is empty", DEPLOY_FIX)
    return Check(key, PASS, f"{path} ({len(data)} bytes)")


def check_certificate_validity(leaf) -> Check:
    """The leaf's validity and strength, as `certs inspect` judged them (a CertReport)."""
    errors = [f.message for f in leaf.findings if f.level == "error"]
    warnings = [f.message for f in leaf.findings if f.level == "warning"]
    detail = f"{leaf.subject}, valid {leaf.not_before} .. {leaf.not_after}"
    fix = "issue a new certificate (python -m host_tools certs device ...), register it, deploy"
    if errors:
        return Check("certificate", FAIL, f"{detail}: {'; '.join(errors)}", fix)
    if warnings:
        return Check("certificate", WARN, f"{detail}: {'; '.join(warnings)}")
    return Check("certificate", PASS, f"{detail} ({leaf.days_left} days left)")


def check_certificate_name(
    common_name: str | None, device_id: str, self_signed: bool, dps: bool = False
) -> Check:
    """CN = device_id: IoT Hub's rule for CA-signed devices; for a thumbprint only a hint.

    `dps`: `device_id` is dps.registration_id, which DPS requires to be the CN of every X.509
    device, self-signed or not.
    """
    if dps:
        return _check_registration_name(common_name, device_id)
    if common_name == device_id:
        return Check("certificate CN", PASS, f"{common_name!r} = device_id")
    detail = f"CN {common_name!r} but device_id is {device_id!r}"
    fix = (
        f"issue the certificate for {device_id} (python -m host_tools certs device {device_id} ...)"
    )
    if self_signed:  # registered by thumbprint: the hub does not read the CN
        return Check("certificate CN", WARN, detail + " (registered by thumbprint, so allowed)")
    return Check("certificate CN", FAIL, detail + ": the hub refuses a CA-signed one", fix)


def _check_registration_name(common_name: str | None, registration_id: str) -> Check:
    if common_name == registration_id:
        return Check("certificate CN", PASS, f"{common_name!r} = dps.registration_id")
    return Check(
        "certificate CN",
        FAIL,
        f"CN {common_name!r} but dps.registration_id is {registration_id!r}: DPS knows an X.509 "
        "device by its CN and refuses it",
        "write config.json again with python -m host_tools config DEVICE_DIR --dps-id-scope ... "
        "(the registration id defaults to the CN), then deploy",
    )


def check_dps(dps: dict, assigned: tuple | None) -> Check:
    """Where a DPS-provisioned board gets its hub: `dps` is config.json's dps section with the
    defaults filled in, `assigned` the (hub, device id) the board keeps from DPS, or None."""
    where = f"DPS {dps['endpoint']}:{dps['port']}, id scope {dps['id_scope']}"
    if assigned is None:
        return Check(
            "provisioning",
            PASS,
            f"provisioned by {where}: the hub is not known until the board registers",
        )
    hub, device_id = assigned
    return Check("provisioning", PASS, f"{where} assigned {device_id} to {hub} (provisioned.json)")


def check_key_pair(key_matches: bool | None, problem: str = "") -> Check:
    """key_file is the private key of cert_file (None: key_file is not a key; `problem` says)."""
    if key_matches:
        return Check("key pair", PASS, "key_file is the certificate's key")
    fix = "deploy the certificate with its own key, or issue both again"
    if key_matches is None:
        return Check("key pair", FAIL, f"key_file is not a usable private key: {problem}", fix)
    return Check(
        "key pair",
        FAIL,
        "key_file is not the key of cert_file: the TLS handshake always fails",
        fix,
    )


def check_chain(leaf, hub_label: str) -> Check:
    """The certificate's chain reaches a CA (the hub's verified CAs when known)."""
    detail = leaf.chain_detail
    if detail == "self-signed":
        return Check("chain", PASS, f"self-signed ({hub_label} knows it by thumbprint)")
    if leaf.chain_verified:
        return Check("chain", PASS, detail)
    fix = (
        "set cert_file to the chain (certs/chain.pem: the device certificate and its CAs) and "
        f"register and verify its root CA with {hub_label}"
    )
    if leaf.chain_verified is None:
        return Check("chain", WARN, "not checked: cert_file holds no root CA", fix)
    return Check("chain", FAIL, detail, fix)


def check_trust_bundle(path: str, present: set, required: dict) -> Check:
    """The trust bundle holds every root the hub presents.

    `present`: SHA-256 fingerprints in the bundle; `required`: fingerprint -> the root's name.
    """
    missing = [name for digest, name in required.items() if digest not in present]
    if missing:
        return Check(
            "trust bundle",
            FAIL,
            f"{path} lacks {', '.join(missing)}: the board cannot verify the hub",
            "write it with python -m host_tools certs trust-bundle DEVICE_DIR/certs/trust.pem "
            "(--extra-ca for the emulator's CA), then deploy",
        )
    names = ", ".join(required.values())
    return Check("trust bundle", PASS, f"{path} holds {names} ({len(present)} certificate(s))")


def check_hub_address(config: dict, host_name: str, port: int | None, hub_label: str) -> Check:
    """config.json names the hub: hub_host (and hub_port, when known) are the hub's."""
    got = f"{config['hub_host']}:{config.get('hub_port', 8883)}"
    fix = "set hub_host/hub_port with python -m host_tools config DEVICE_DIR ..., then deploy"
    if config["hub_host"].lower() != host_name.lower():
        return Check(
            "hub address",
            FAIL,
            f"config.json hub_host is {config['hub_host']!r}, {hub_label} is {host_name!r}",
            fix,
        )
    configured_port = config.get("hub_port", 8883)
    if port is not None and configured_port != port:
        detail = f"config.json hub_port is {configured_port}, {hub_label} listens on {port}"
        return Check("hub address", FAIL, detail, fix)
    return Check("hub address", PASS, f"{got} is {hub_label}")


def check_hub_running(running: bool, data_dir) -> Check:
    """The emulator named by --hub-data runs (its hub.json is live)."""
    if running:
        return Check("hub", PASS, f"the emulator for {data_dir} is running")
    return Check(
        "hub",
        FAIL,
        f"no emulator running for {data_dir}",
        f"start it: python -m host_tools hub serve --data {data_dir}",
    )


def check_registration(
    device_id: str, verdict, thumbprint: str, self_signed: bool, data_dir
) -> Check:
    """The emulator's own judgment of this certificate for this device.

    `verdict`: an auth.Verdict, or a text when there was no registry to ask; `thumbprint`: the
    certificate's SHA-256, for the fix.
    """
    if not isinstance(verdict, str) and verdict.accepted:
        how = "by thumbprint" if self_signed else "through its verified CA"
        return Check("registration", PASS, f"{device_id} is registered; accepted {how}")
    reason = verdict if isinstance(verdict, str) else verdict.reason
    hub = f"--data {data_dir}"
    if "expired" in reason or "not valid before" in reason:
        fix = "issue a new certificate (python -m host_tools certs device ...), register it, deploy"
    elif "is disabled" in reason:
        fix = f"python -m host_tools hub enable {device_id} {hub}"
    elif "not verified" in reason:
        fix = f"prove possession: python -m host_tools hub ca verify NAME verification.pem {hub}"
    elif self_signed:
        fix = f"python -m host_tools hub register {device_id} --thumbprint {thumbprint} {hub}"
    else:
        fix = (
            "register and verify its root CA (hub ca add, hub ca verify), then "
            f"python -m host_tools hub register {device_id} --ca {hub}"
        )
    return Check("registration", FAIL, reason, fix)


def check_connection(outcome: str, message: str | None, where: str) -> Check:
    """The board's own connection attempt, in the firmware's words (firmware/explain.py)."""
    if outcome == "connected":
        return Check("connection", PASS, f"the board connected to {where}")
    if outcome == "nofirmware":
        return Check("connection", FAIL, f"not attempted: {message}", DEPLOY_FIX)
    if outcome == "timeout":
        return Check(
            "connection",
            FAIL,
            f"no answer from {where} before the time limit",
            "check the network between the board and the hub, and hub_host/hub_port",
        )
    return Check("connection", FAIL, f"{where}: {message}")
