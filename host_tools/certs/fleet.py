"""`fleet mint`: many device identities from one CA, on every core, with a manifest.

Each device gets `OUT_DIR/<device id>/` holding the files `certs device` writes. The manifest
(`manifest.csv` and `manifest.json` in OUT_DIR) lists device id, both thumbprints, not-after and
the file paths relative to OUT_DIR. A re-run is idempotent: existing keys are never replaced,
complete identities are reused, and an interrupted one is completed from its key; only
`force=True` issues everything anew.
"""

import csv
import datetime
import io
import json
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from host_tools.errors import UserError

from . import keys
from ._files import DIR_MODE, KEY_MODE, PUBLIC_MODE, ensure_private_dir, write_file
from .certfiles import cert_to_pem, load_certificate, thumbprints
from .device_id import check_device_id
from .issue import (
    DEFAULT_DAYS,
    device_file_contents,
    device_file_names,
    issue_device_certificate,
    load_ca,
    validity_end,
    write_device_files,
)

MANIFEST_FIELDS = (
    "device_id",
    "sha1",
    "sha256",
    "not_after",
    "cert_der",
    "key_der",
    "cert_pem",
    "key_pem",
    "chain_pem",
)
TEMP_PREFIX = ".minting."
INLINE_BELOW = 64  # fewer identities than this are minted in-process: a pool costs more
_CHUNK = 32


@dataclass
class FleetResult:
    """What `mint_fleet` did."""

    out_dir: Path
    manifest_csv: Path
    manifest_json: Path
    devices: list = field(default_factory=list)  # manifest rows (dicts)
    created: int = 0
    completed: int = 0
    reused: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "manifest_csv": str(self.manifest_csv),
            "manifest_json": str(self.manifest_json),
            "count": len(self.devices),
            "created": self.created,
            "completed": self.completed,
            "reused": self.reused,
            "seconds": round(self.seconds, 3),
        }


def fleet_device_ids(prefix: str, count: int, start: int = 1, digits: int = 4) -> list[str]:
    """Device ids `prefix` + zero-padded number: stable across re-runs of any count."""
    if count < 1:
        raise UserError(f"--count {count}: mint at least 1 identity")
    ids = [f"{prefix}{n:0{digits}d}" for n in range(start, start + count)]
    check_device_id(ids[0])
    check_device_id(ids[-1])
    return ids


# one CA per worker process, loaded once by _init_worker
_STATE: dict = {}


def _init_worker(ca_dir, passphrase, out_dir, not_after, key_type, force):
    _STATE.update(
        ca=load_ca(ca_dir, passphrase),
        out_dir=Path(out_dir),
        not_after=not_after,
        key_type=key_type,
        force=force,
        names=device_file_names(),
    )


def _existing_key(folder: Path, names: dict):
    for role in ("key_der", "key_pem"):
        if (folder / names[role]).exists():
            return keys.load_private_key(folder / names[role])
    return None


def _existing_cert(folder: Path, names: dict):
    for role in ("cert_der", "cert_pem"):
        if (folder / names[role]).exists():
            return folder / names[role], load_certificate(folder / names[role])
    return None, None


def _belongs(cert, key, ca, device_id) -> bool:
    if not keys.public_keys_equal(cert.public_key(), key.public_key()):
        return False
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if not cn or cn[0].value != device_id:
        return False
    try:
        cert.verify_directly_issued_by(ca.cert)
    except Exception:  # other issuer, bad signature
        return False
    return True


def _temp_folder_name(device_id: str) -> str:
    return f"{TEMP_PREFIX}{device_id}.{os.getpid()}"


def _write_new_folder(folder: Path, names: dict, contents: dict) -> None:
    """Write a new device folder whole: files go into a 0700 temp folder renamed into place.

    Atomic per identity (the folder is complete or absent), and half the file-system
    operations of renaming each file: creating files is what bounds `fleet mint`.
    """
    temp = folder.with_name(_temp_folder_name(folder.name))
    try:
        if temp.exists():
            shutil.rmtree(temp)
        os.mkdir(temp, DIR_MODE)
        for role, data in contents.items():
            mode = KEY_MODE if role.startswith("key") else PUBLIC_MODE
            fd = os.open(temp / names[role], os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        os.rename(temp, folder)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        msg = f"{folder}: cannot write ({exc.strerror}); check disk space and permissions"
        raise UserError(msg) from None


def _remove_stale_temp_folders(out_dir: Path) -> None:
    """Temp folders of an interrupted run: their keys were never placed, so never used."""
    for stale in out_dir.glob(f"{TEMP_PREFIX}*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _mint_one(device_id: str):
    """Mint (or resume) one identity; returns (status, manifest row) or ("error", message)."""
    state = _STATE
    ca, names, folder = state["ca"], state["names"], state["out_dir"] / device_id
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    try:
        is_new = not folder.exists()
        key = None if state["force"] or is_new else _existing_key(folder, names)
        if key is None:
            key = keys.generate_key(state["key_type"])
            cert = issue_device_certificate(device_id, key, ca, state["not_after"], now)
            contents = device_file_contents(cert, key, ca)
            if is_new:
                _write_new_folder(folder, names, contents)
            else:
                ensure_private_dir(folder)
                write_device_files(folder, names, contents)
            status = "created"
        else:
            cert_path, cert = _existing_cert(folder, names)
            if cert is not None and not _belongs(cert, key, ca, device_id):
                raise UserError(
                    f"{cert_path}: not this device's certificate from {ca.cert_path} (other key, "
                    "CA or device id); pass --force to issue this identity again"
                )
            if cert is None:
                cert = issue_device_certificate(device_id, key, ca, state["not_after"], now)
            contents = device_file_contents(cert, key, ca)
            missing = {r: b for r, b in contents.items() if not (folder / names[r]).exists()}
            write_device_files(folder, names, missing)
            status = "completed" if missing else "reused"
    except UserError as exc:
        return "error", str(exc)
    sha1, sha256 = thumbprints(cert)
    row = {"device_id": device_id, "sha1": sha1, "sha256": sha256}
    row["not_after"] = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    for role, name in names.items():
        row[role] = f"{device_id}/{name}"
    return status, row


def _progress_printer(total: int, stream):
    started = time.perf_counter()

    def show(done: int) -> None:
        width = 30
        filled = width * done // total
        rate = done / max(time.perf_counter() - started, 1e-9)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:,.0f}/s")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show


def _write_manifest(out_dir: Path, rows: list, ca_cert) -> tuple:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = write_file(out_dir / "manifest.csv", text.getvalue().encode())
    document = {
        "version": 1,
        "ca_subject": ca_cert.subject.rfc4514_string(),
        "ca_sha256": thumbprints(ca_cert)[1],
        "ca_cert_pem": cert_to_pem(ca_cert).decode(),
        "devices": rows,
    }
    json_path = write_file(out_dir / "manifest.json", json.dumps(document, indent=1).encode())
    return csv_path, json_path


def mint_fleet(
    ca_dir,
    count: int,
    prefix: str,
    out_dir,
    days: int | None = None,
    key_type: str = keys.DEFAULT_KEY_TYPE,
    force: bool = False,
    workers: int | None = None,
    start: int = 1,
    ca_passphrase=None,
    progress: bool | None = None,
) -> FleetResult:
    """Mint `count` CA-signed identities `prefix0001`... into `out_dir`, plus the manifest.

    `workers` defaults to two processes per core (file creation waits on the disk). `progress`
    None shows a bar only when stderr is a terminal. Raises UserError (after writing the
    manifest of the rest) if any identity failed.
    """
    started = time.perf_counter()
    keys.check_key_type(key_type)
    ids = fleet_device_ids(prefix, count, start)
    if isinstance(ca_passphrase, str):
        ca_passphrase = ca_passphrase.encode()
    ca = load_ca(ca_dir, ca_passphrase)  # fail here, once, on a bad CA or passphrase
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    not_after = validity_end(days, DEFAULT_DAYS["device"], now, ca.cert, ca.cert_path)
    out_dir = ensure_private_dir(out_dir)
    _remove_stale_temp_folders(out_dir)
    # two processes per core: creating five files per identity keeps a process waiting on the
    # file system about half the time (measured: 2 cores, 2 -> 4 workers = +28% identities/s)
    workers = max(1, workers or 2 * (os.cpu_count() or 1))
    if progress is None:
        progress = sys.stderr.isatty()
    show = _progress_printer(len(ids), sys.stderr) if progress else None
    init_args = (ca_dir, ca_passphrase, out_dir, not_after, key_type, force)
    results = []
    if workers == 1 or len(ids) < INLINE_BELOW:
        _init_worker(*init_args)
        for device_id in ids:
            results.append(_mint_one(device_id))
            if show and (len(results) % 50 == 0 or len(results) == len(ids)):
                show(len(results))
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        with context.Pool(workers, initializer=_init_worker, initargs=init_args) as pool:
            for outcome in pool.imap(_mint_one, ids, chunksize=_CHUNK):
                results.append(outcome)
                if show and (len(results) % _CHUNK == 0 or len(results) == len(ids)):
                    show(len(results))
    rows = [row for status, row in results if status != "error"]
    errors = [message for status, message in results if status == "error"]
    csv_path, json_path = _write_manifest(out_dir, rows, ca.cert)
    result = FleetResult(out_dir, csv_path, json_path, rows)
    for status, _ in results:
        if status in ("created", "completed", "reused"):
            setattr(result, status, getattr(result, status) + 1)
    result.seconds = time.perf_counter() - started
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UserError(f"{errors[0]}{more}")
    return result
