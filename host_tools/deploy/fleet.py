"""`fleet flash`: deploy a fleet manifest's identities to several boards at once.

Each port gets one identity from the manifest (`fleet mint` output), in order, its own
config.json and credentials, and optionally a fresh MicroPython image first. Boards run in
parallel; a failed board is reported and never stops the others.

Every board is told its hub (`hub_host`), or with `dps` the DPS instance to ask: its config.json
then holds a dps section whose registration id is the row's device id, the CN `fleet mint` put
in its certificate, so one enrollment group on the fleet's CA admits every board.
"""

import json
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from host_tools.deploy.deploy import deploy
from host_tools.deploy.device_config import build_config, write_config
from host_tools.deploy.device_files import confined_file
from host_tools.errors import UserError


@dataclass
class BoardResult:
    device_id: str
    port: str
    ok: bool
    message: str
    files: int = 0
    seconds: float = 0.0


def load_manifest(path) -> tuple[Path, list[dict]]:
    """(folder the manifest's paths are relative to, device rows) of manifest.json."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is missing: mint a fleet with `fleet mint` first") from None
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None
    devices = document.get("devices") if isinstance(document, dict) else None
    if not devices:
        raise UserError(f"{path} lists no devices")
    return path.parent, devices


def row_files(base: Path, row: dict) -> dict:
    """{role: path} of a manifest row's certificate and key, refused unless inside `base`."""
    device_id = row.get("device_id") if isinstance(row, dict) else None
    if not isinstance(device_id, str):
        raise UserError(f"{base}/manifest.json: a device row has no device_id; mint it again")
    where = f"{base}/manifest.json ({device_id})"
    files = {}
    for role in ("cert_der", "key_der"):
        if role not in row:
            raise UserError(f"{where}: {role} is missing; mint the fleet again")
        files[role] = confined_file(base, row[role], where, role)
    if row.get("chain_pem"):  # CA-signed: the leaf and its CAs, what the board presents
        files["chain_pem"] = confined_file(base, row["chain_pem"], where, "chain_pem")
    return files


def stage_device_folder(base: Path, row: dict, out: Path, trust_file, config: dict) -> Path:
    """A device folder for one manifest row: config.json + certs/ (key copied 0600)."""
    certs = out / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    names = {"cert_der": "device.crt.der", "key_der": "device.key.der", "chain_pem": "chain.pem"}
    for role, source in row_files(base, row).items():
        if not source.is_file():
            raise UserError(f"{source} is missing (manifest row {row['device_id']})")
        shutil.copyfile(source, certs / names[role])
    (certs / "device.key.der").chmod(0o600)
    shutil.copyfile(trust_file, certs / "trust.pem")
    write_config(out, build_config(device_dir=out, **row_config(row, config)))
    return out


def row_config(row: dict, config: dict) -> dict:
    """build_config's arguments for one manifest row: `config` plus the row's identity (its
    device id, or with a dps section its registration id: the certificate's CN either way)."""
    values = dict(config)
    if values.get("dps") is not None:
        values["dps"] = {**values["dps"], "registration_id": row["device_id"]}
    else:
        values["device_id"] = row["device_id"]
    return values


def fleet_flash(
    manifest,
    ports: list[str],
    hub_host: str | None,
    trust_file,
    hub_port: int = 8883,
    dps: dict | None = None,
    devices: list[str] | None = None,
    board: str | None = None,
    firmware=None,
    workers: int | None = None,
    config_extra: dict | None = None,
    deploy_options: dict | None = None,
    log=print,
) -> list[BoardResult]:
    """Deploy (and with `board` + `firmware`, flash first) one identity per port, in parallel.

    `hub_host`, or (hub_host None) `dps`: {"id_scope"} and optionally "endpoint", "port"; each
    board's registration id is its row's device id.
    """
    if (hub_host is None) == (dps is None):
        raise UserError("name the hub (hub_host) or the DPS instance (dps), exactly one of them")
    base, rows = load_manifest(manifest)
    if devices:
        by_id = {row["device_id"]: row for row in rows}
        missing = [d for d in devices if d not in by_id]
        if missing:
            raise UserError(f"not in the manifest: {', '.join(missing)}")
        rows = [by_id[d] for d in devices]
    for row in rows:  # every row before any board: a crafted manifest stops the whole run
        row_files(base, row)
    if not ports:
        raise UserError("no ports given")
    if len(rows) < len(ports):
        raise UserError(f"{len(ports)} ports but only {len(rows)} identities in the manifest")
    if not Path(trust_file).is_file():
        raise UserError(f"trust bundle {trust_file} does not exist")
    if firmware and not board:
        raise UserError("--firmware needs --board")
    where = {"hub_host": hub_host} if dps is None else {"dps": dps}
    config = {**where, "hub_port": hub_port, **(config_extra or {})}
    pairs = list(zip(rows, ports, strict=False))
    for row, _ in pairs:  # a config no board would boot with stops the run before any board
        try:
            build_config(**row_config(row, config))
        except UserError as exc:
            raise UserError(f"{row['device_id']}'s {exc}") from None

    def one(pair) -> BoardResult:
        row, port = pair
        started = time.monotonic()
        lines = []
        try:
            with tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
                folder = stage_device_folder(base, row, Path(tmp), trust_file, config)
                if firmware:
                    from host_tools.deploy.flash import flash

                    flash(board, port, firmware, log=lines.append)
                report = deploy(port, folder, log=lines.append, **(deploy_options or {}))
            return BoardResult(
                row["device_id"],
                port,
                True,
                "deployed",
                len(report.copied),
                time.monotonic() - started,
            )
        except UserError as exc:
            return BoardResult(
                row["device_id"], port, False, str(exc), 0, time.monotonic() - started
            )
        except Exception as exc:  # one broken board must not stop the fleet
            message = f"{type(exc).__name__}: {exc}"
            return BoardResult(
                row["device_id"], port, False, message, 0, time.monotonic() - started
            )

    with ThreadPoolExecutor(max_workers=workers or len(pairs)) as pool:
        results = list(pool.map(one, pairs))
    for line in summary_table(results):
        log(line)
    return results


def summary_table(results: list[BoardResult]) -> list[str]:
    rows = [("device", "port", "result", "files", "seconds")]
    for r in results:
        rows.append(
            (
                r.device_id,
                r.port,
                "ok" if r.ok else f"FAILED: {r.message}",
                str(r.files),
                f"{r.seconds:.1f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        lines.append(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        )
    ok = sum(1 for r in results if r.ok)
    lines.append(f"{ok} of {len(results)} board(s) deployed")
    return lines
