"""Writing credential files safely: 0700 folders, atomic writes, keys 0600, no silent overwrite."""

import os
import tempfile
from pathlib import Path

from host_tools.errors import UserError

KEY_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o700


def ensure_private_dir(path) -> Path:
    """Create `path` (and parents) as 0700 folders; an existing folder is left as it is."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder; pass a folder path")
    if not path.is_dir():
        try:
            path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            os.chmod(path, DIR_MODE)
        except OSError as exc:
            msg = f"{path}: cannot create the folder ({exc.strerror}); check permissions"
            raise UserError(msg) from None
    return path


def refuse_existing(paths, force: bool) -> None:
    """Raise a UserError naming the first path that exists, unless `force`."""
    if force:
        return
    for path in paths:
        if Path(path).exists():
            raise UserError(
                f"{path}: already exists; choose another folder or pass --force to replace it"
            )


def write_file(path, data: bytes, mode: int = PUBLIC_MODE) -> Path:
    """Write `data` to `path` atomically (temp file in the same folder + rename) with `mode`.

    The temp file is created with `mode` from the start, so a key is never readable by others,
    not even for a moment. Error messages name the path, never the content.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        msg = f"{path}: cannot write ({exc.strerror}); check the folder's permissions"
        raise UserError(msg) from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        msg = f"{path}: cannot write ({exc.strerror}); check disk space and permissions"
        raise UserError(msg) from None
    return path


def write_key(path, data: bytes) -> Path:
    """Write private key material: 0600, atomically."""
    return write_file(path, data, KEY_MODE)


def read_file(path, what: str = "file") -> bytes:
    """Read a file or raise a one-line UserError naming it."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: {what} not found; check the path") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, expected a {what}") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror}); check permissions") from None


def read_passphrase_file(path) -> bytes:
    """A passphrase from the first line of a file (trailing newline stripped)."""
    data = read_file(path, "passphrase file")
    line = data.splitlines()[0] if data else b""
    if not line:
        raise UserError(
            f"{path}: the passphrase file is empty; put the passphrase on its first line"
        )
    return line
