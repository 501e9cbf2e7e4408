"""The hub's data folder at rest: private to its user, secrets 0600, every write atomic.

`registry.json` holds SAS keys, `hub.json` the service API's token and `ca/`, `server/` the
hub's private keys, so the folder is 0700 and those files 0600 from their first byte (a temporary
file created 0600, written, then renamed). A folder or secret found with looser modes (an older
version of the hub made it, or it was copied) is tightened at start, with one warning line.
"""

import logging
import os
import stat
from pathlib import Path

from host_tools.certs._files import KEY_MODE, PUBLIC_MODE, write_file

log = logging.getLogger("host_tools.hub")

DIR_MODE = 0o700
SECRET_MODE = KEY_MODE
PRIVATE_DIRS = ("ca", "server")
SECRET_FILES = (
    "registry.json",
    "dps.json",  # DPS enrollments: symmetric keys
    "hub.json",
    "ca/ca.key.pem",
    "server/server.key.pem",
)
# any of these in a folder means it is a hub's own folder, so its mode is the hub's to set
HUB_MARKERS = ("registry.json", "ca.pem", "credentials.json", "ca")


def prepare_data_dir(data_dir) -> Path:
    """Create `data_dir` 0700 when missing; tighten it and the secrets in it when looser.

    A folder holding other files and no hub state (`--data ~`, say) keeps its mode, with a
    warning: it is not the hub's to change. Returns the folder as a Path.
    """
    data_dir = Path(data_dir)
    if not data_dir.exists():
        data_dir.mkdir(mode=DIR_MODE, parents=True)
        os.chmod(data_dir, DIR_MODE)  # mkdir's mode goes through the umask
        return data_dir
    tightened = []
    if _mode(data_dir) & 0o077:
        if any((data_dir / name).exists() for name in HUB_MARKERS) or not any(data_dir.iterdir()):
            tightened.append(_tighten(data_dir, DIR_MODE))
        else:
            log.warning(
                "%s is readable by others (%04o) and holds more than the hub's state: its "
                "secrets are 0600, but give the hub a folder of its own (--data hub-data)",
                data_dir,
                _mode(data_dir),
            )
    for name in PRIVATE_DIRS:
        path = data_dir / name
        if path.is_dir() and _mode(path) & 0o077:
            tightened.append(_tighten(path, DIR_MODE))
    for name in SECRET_FILES:
        path = data_dir / name
        if path.is_file() and _mode(path) & 0o077:
            tightened.append(_tighten(path, SECRET_MODE))
    if tightened:
        log.warning("tightened modes of what holds the hub's secrets: %s", ", ".join(tightened))
    return data_dir


def write_secret(path, data: str | bytes) -> Path:
    """Write a file only its user may read: created 0600, written, then renamed over."""
    raw = data.encode() if isinstance(data, str) else data
    return write_file(path, raw, SECRET_MODE)


def write_public(path, data: str | bytes) -> Path:
    """Write a file anyone may read (the CA certificate devices trust), atomically."""
    raw = data.encode() if isinstance(data, str) else data
    return write_file(path, raw, PUBLIC_MODE)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _tighten(path: Path, mode: int) -> str:
    before = _mode(path)
    os.chmod(path, before & mode)
    return f"{path} {before:04o} -> {before & mode:04o}"
