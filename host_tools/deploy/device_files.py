"""What deploy may take from a device folder, and the host's custody of its private key.

A device folder may come from someone else: every file its config.json (or a fleet manifest)
names must stay inside the folder, so a crafted path cannot carry host files (~/.ssh keys) to a
board. The certificate must be in date and match its key: the hub would refuse anything else.
`--forget-key` deletes the host's copy of the key once the board holds it, and leaves
`KEY.sha256` behind so later deploys can check the board still has that key.
"""

import os
from pathlib import Path, PurePath

from host_tools.errors import UserError

FORGOTTEN_SUFFIX = ".sha256"  # beside a forgotten key: the SHA-256 of the copy on the board


def confined_file(folder, relative, where: str, what: str) -> Path:
    """`folder/relative`, refused unless it is a relative path that stays inside `folder`
    (symlinks included). `where` and `what` name the config file and the entry in errors."""
    folder = Path(folder)
    fix = f"put the file inside {folder} and name it relative to it (for example certs/...)"
    if not isinstance(relative, str):
        raise UserError(f"{where}: {what} must be a path (a string); {fix}")
    if PurePath(relative).is_absolute():
        why = "is an absolute path"
    elif ".." in PurePath(relative).parts:
        why = "climbs out of the folder with '..'"
    else:
        path = folder / relative
        real, inside = path.resolve(), folder.resolve()
        if real == inside or inside in real.parents:
            return path
        why = f"is a symlink to {real}, outside the folder"
    raise UserError(f"{where}: {what} {relative} {why}; refusing to copy it to a board: {fix}")


def check_identity(cert_path: Path, key_path: Path | None) -> None:
    """Refuse a certificate that has expired or does not match `key_path` (None: not checked).

    The facts come from `certs inspect`; only these two are refusals here, since the hub turns
    both away at every connect whatever else the board does.
    """
    from host_tools.certs.inspect import inspect_path

    report = inspect_path(cert_path, key=key_path)
    leaf = report.certificates[0]
    if leaf.days_left < 0:
        raise UserError(
            f"{cert_path} expired on {leaf.not_after}: the hub refuses it; issue a new "
            "certificate (python -m host_tools certs device ...) and deploy again"
        )
    if key_path is not None and leaf.key_matches is False:
        raise UserError(
            f"{key_path} is not the key of {cert_path}: TLS with this pair always fails; "
            "pair the certificate with its own key, or issue both again"
        )


def forgotten_digest(key_path: Path) -> str | None:
    """The SHA-256 recorded when `key_path` was forgotten, or None."""
    mark = key_path.with_name(key_path.name + FORGOTTEN_SUFFIX)
    if key_path.exists() or not mark.is_file():
        return None
    digest = mark.read_text().strip()
    if len(digest) != 64:
        raise UserError(f"{mark} is not a SHA-256 in hex; restore the key file or delete it")
    return digest


def forget_key(key_path: Path, digest: str) -> list[Path]:
    """Delete `key_path` and its PEM/DER twin holding the same key; record `digest` beside it.

    Call only once the board's copy has this digest. Returns the files deleted.
    """
    mark = key_path.with_name(key_path.name + FORGOTTEN_SUFFIX)
    mark.write_text(digest + "\n")
    gone = [key_path, *_twins(key_path)]
    for path in gone:
        _shred(path)
    return gone


def _twins(key_path: Path) -> list[Path]:
    """device.key.der <-> device.key.pem, when the other file is the same private key."""
    from host_tools.certs import keys

    for ours, other in ((".key.der", ".key.pem"), (".key.pem", ".key.der")):
        if key_path.name.endswith(ours):
            twin = key_path.with_name(key_path.name[: -len(ours)] + other)
            break
    else:
        return []
    if not twin.is_file():
        return []
    try:
        a = keys.parse_private_key(key_path.read_bytes(), key_path)
        b = keys.parse_private_key(twin.read_bytes(), twin)
    except UserError:
        return []  # unreadable or encrypted: not provably the same key, so left alone
    return [twin] if keys.public_keys_equal(a.public_key(), b.public_key()) else []


def _shred(path: Path) -> None:
    # Overwrite before unlinking: cheap, and on a plain disk it keeps the bytes from lingering
    # (not a guarantee on SSDs or copy-on-write file systems).
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.write(b"\0" * size)
        f.flush()
        os.fsync(f.fileno())
    path.unlink()
