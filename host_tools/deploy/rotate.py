"""`rotate`: move a device to its secondary certificate without a moment it cannot connect.

1. register the new thumbprint as the secondary, next to the current primary (both accepted);
2. deploy the new certificate and key as the active ones (config.json switches atomically);
3. wait until the hub accepts the device with the NEW certificate (its connection log records
   the thumbprints of the certificate each connection was accepted with: a second board, or a
   reconnect with the old certificate in a race, does not count);
4. retire the old thumbprint (the new one becomes the only, primary, thumbprint);
5. on the host, certs/device.* become the new files and the old ones move to certs/retired.*.

The board is never left holding a certificate the hub refuses: until step 4 both are valid.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from host_tools.deploy.deploy import deploy
from host_tools.deploy.device_config import read_config, write_config
from host_tools.errors import UserError

# .key.der.sha256: what `deploy --forget-key` leaves in place of a key only the board holds
FILE_SUFFIXES = (".crt.der", ".key.der", ".crt.pem", ".key.pem", ".key.der.sha256")


class HandleHubAdmin:
    """The hub through a `running_hub` handle (tests, the demo)."""

    def __init__(self, handle):
        self.handle = handle

    def register_x509(self, device_id, primary, secondary=None):
        self.handle.register_x509(device_id, primary, secondary)

    def accepted_count(self, device_id, thumbprint=None) -> int:
        events = [e.to_json() for e in self.handle.connection_log]
        return _count_accepted(events, device_id, thumbprint)


class HttpHubAdmin:
    """The hub through its service API, found from its data folder (`hub serve --data DIR`)."""

    def __init__(self, data_dir):
        self.data_dir = data_dir

    def _request(self, method, path, body=None):
        from host_tools.hub.cli import request

        status, answer = request(self.data_dir, method, path, body, need_running=True)
        if status >= 400:
            message = answer.get("message") if isinstance(answer, dict) else answer
            raise UserError(f"hub refused {method} {path}: {message} (HTTP {status})")
        return answer

    def register_x509(self, device_id, primary, secondary=None):
        prints = {"primaryThumbprint": primary, "secondaryThumbprint": secondary}
        body = {"authentication": {"type": "selfSigned", "x509Thumbprint": prints}}
        self._request("PUT", f"/devices/{device_id}", body)

    def accepted_count(self, device_id, thumbprint=None) -> int:
        return _count_accepted(self._request("GET", "/connections") or [], device_id, thumbprint)


def _count_accepted(events: list, device_id: str, thumbprint: str | None) -> int:
    """Accepted connections of `device_id` (JSON log lines), only with `thumbprint` if given."""
    wanted = thumbprint.upper() if thumbprint else None
    return sum(
        1
        for e in events
        if e["event"] == "accepted"
        and e["deviceId"] == device_id
        and (wanted is None or wanted in (e.get("thumbprints") or {}).values())
    )


@dataclass
class RotateReport:
    device_id: str
    old_thumbprint: str
    new_thumbprint: str
    reconnect_seconds: float
    seconds: float


def _thumbprint(path: Path) -> str:
    from host_tools.certs import load_certificate, thumbprints

    return thumbprints(load_certificate(path))[0]


def _ca_signed(path: Path) -> bool:
    """True for a certificate its CA issued (the hub knows the device by CN, not thumbprint)."""
    from host_tools.certs import load_certificate

    cert = load_certificate(path)
    return cert.issuer != cert.subject


def _default_new_cert(device_dir: Path) -> str:
    # a CA-signed identity comes with its chain: the board must present the intermediates
    chain = "certs/secondary.chain.pem"
    return chain if (device_dir / chain).is_file() else "certs/secondary.crt.der"


def rotate(
    port: str,
    device_dir,
    hub,
    new_cert: str | None = None,
    new_key: str = "certs/secondary.key.der",
    timeout: float = 60.0,
    log=print,
    deploy_options: dict | None = None,
) -> RotateReport:
    """Rotate the board on `port` to `new_cert`/`new_key` (paths inside `device_dir`; the
    default certificate is `certs/secondary.chain.pem` when there is one, else the DER leaf).
    A self-signed device gets both thumbprints registered during the switch and only the new
    one after; a CA-signed device's registration (its CA) stays as it is.

    `hub` is a HandleHubAdmin, an HttpHubAdmin, or anything with `register_x509(device_id,
    primary, secondary)` and `accepted_count(device_id, thumbprint)` (accepted connections made
    with that certificate). `deploy_options` go to deploy() (for example `firmware_dir`).
    """
    started = time.monotonic()
    device_dir = Path(device_dir)
    config = read_config(device_dir)
    if config.get("dps") is not None:
        raise UserError(
            f"{device_dir / 'config.json'} is provisioned by DPS: rotate re-registers a device's "
            "thumbprints in a hub, and DPS owns this one; with a CA enrollment group issue the "
            "new certificate from the same CA (certs device ... --ca) and deploy it"
        )
    device_id = config["device_id"]
    if config.get("sas_key"):
        raise UserError(f"{device_id} uses a SAS key: rotate rotates X.509 certificates")
    old_cert = device_dir / config["cert_file"]
    new_cert = new_cert or _default_new_cert(device_dir)
    for relative in (new_cert, new_key):
        if not (device_dir / relative).is_file():
            raise UserError(
                f"{device_dir / relative} is missing: mint it with `python -m host_tools "
                f"certs device {device_id} {device_dir / 'certs'} --secondary`"
            )
    old_print, new_print = _thumbprint(old_cert), _thumbprint(device_dir / new_cert)
    if old_print == new_print:
        raise UserError(f"{new_cert} is already the active certificate of {device_id}")
    by_thumbprint = not _ca_signed(device_dir / new_cert)
    if by_thumbprint:
        log(f"{device_id}: registering {new_print[:16]}... as secondary beside {old_print[:16]}...")
        hub.register_x509(device_id, old_print, new_print)
    before = hub.accepted_count(device_id, new_print)
    switched = time.monotonic()
    deploy(
        port,
        device_dir,
        log=log,
        config_overrides={"cert_file": new_cert, "key_file": new_key},
        **(deploy_options or {}),
    )
    deadline = time.monotonic() + timeout
    while hub.accepted_count(device_id, new_print) <= before:
        if time.monotonic() > deadline:
            raise UserError(
                f"{device_id} did not reconnect within {timeout:.0f} s with the new certificate; "
                "both thumbprints stay registered, so nothing is locked out"
            )
        time.sleep(0.1)
    reconnect = time.monotonic() - switched
    if by_thumbprint:
        log(f"{device_id}: reconnected {reconnect:.1f} s after the switch; retiring the old one")
        hub.register_x509(device_id, new_print, None)
    else:
        log(f"{device_id}: reconnected {reconnect:.1f} s after the switch with the new certificate")
    _swap_host_files(device_dir, config, new_cert, new_key)
    return RotateReport(device_id, old_print, new_print, reconnect, time.monotonic() - started)


def _swap_host_files(device_dir: Path, config: dict, new_cert: str, new_key: str) -> None:
    """certs/device.* <- the new identity, certs/retired.* <- the old one (when names allow)."""
    certs = device_dir / "certs"
    standard = (
        config["cert_file"] in ("certs/device.crt.der", "certs/chain.pem")
        and new_cert in ("certs/secondary.crt.der", "certs/secondary.chain.pem")
        and new_key == "certs/secondary.key.der"
    )
    if not standard:
        config.update(cert_file=new_cert, key_file=new_key)
        write_config(device_dir, config)
        return
    for suffix in FILE_SUFFIXES:
        old, new = certs / f"device{suffix}", certs / f"secondary{suffix}"
        # a forgotten key's mark belongs to the old identity even with no new one beside it
        if old.exists() and (new.exists() or suffix.endswith(".sha256")):
            old.replace(certs / f"retired{suffix}")
        if new.exists():
            new.replace(certs / f"device{suffix}")
    chain = certs / "secondary.chain.pem"
    if chain.exists():
        if (certs / "chain.pem").exists():
            (certs / "chain.pem").replace(certs / "retired.chain.pem")
        chain.replace(certs / "chain.pem")
    # the folder's config names what the board now loads, under its new name
    loaded = "certs/chain.pem" if new_cert.endswith(".chain.pem") else "certs/device.crt.der"
    if config["cert_file"] != loaded or config["key_file"] != "certs/device.key.der":
        config.update(cert_file=loaded, key_file="certs/device.key.der")
        write_config(device_dir, config)
