"""`deploy`: put the firmware, config.json and credentials of a device folder on a board.

Everything goes through stock mpremote (its SerialTransport, whose file operations are all
built on the raw REPL). Only files whose SHA-256 on the board differs are copied. Every file is
written as `NAME.tmp`, its hash checked on the board, then renamed.

Credentials switch atomically: the certificate, key and trust bundle are copied under names
that carry their content hash (`certs/device.<hash8>.crt.der`), and config.json, which names
them, is replaced last by a single rename. A power cut at any moment leaves config.json
pointing at a complete set: the old one or the new one, never half of each. Old credential
files are deleted only after that rename.
"""

import ast
import hashlib
import json
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from host_tools.deploy.device_config import CREDENTIAL_KEYS, read_config
from host_tools.deploy.ports import open_transport
from host_tools.errors import UserError
from host_tools.firmware_build import build_tree
from host_tools.paths import FIRMWARE_DIR, UMQTT_SIMPLE

CHUNK = 512  # bytes per raw-REPL write; raw-paste flow control keeps the UART safe
# seconds one file may take; past it the board is gone (reset, unplugged) and deploy gives up,
# since mpremote itself waits forever while a board that rebooted keeps printing
FILE_TIMEOUT = 30.0
UMQTT_BOARD_PATH = "lib/umqtt/simple.py"

# runs on the board: hashes of PATHS, the certs/ listing, and where umqtt.simple comes from
_PROBE = """
import os, hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(m[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
def _ls(d):
    try:
        return [e[0] for e in os.ilistdir(d)]
    except OSError:
        return []
_u = None
try:
    import umqtt.simple as _m
    _u = getattr(_m, '__file__', '.frozen')
except ImportError:
    pass
print(repr(({p: _h(p) for p in PATHS}, _ls('/certs'), _ls('/'), _u)))
"""

_MOVE = """
import os
def _mv(a, b):
    try:
        os.rename(a, b)
    except OSError:
        os.remove(b)
        os.rename(a, b)
"""


@dataclass
class BoardFile:
    """One file deploy wants on the board."""

    path: str  # on the board, relative to /
    data: bytes
    kind: str  # firmware | lib | credential | config
    secret: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class DeployReport:
    """What deploy did (or, with dry_run, would do)."""

    port: str
    dry_run: bool
    copied: list = field(default_factory=list)  # board paths written
    unchanged: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    umqtt: str = ""
    bytes_copied: int = 0
    seconds: float = 0.0
    reset: bool = False
    credentials: dict = field(default_factory=dict)  # config key -> board path

    def summary(self) -> str:
        verb = "would copy" if self.dry_run else "copied"
        return (
            f"{self.port}: {verb} {len(self.copied)} file(s) ({self.bytes_copied} bytes), "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, "
            f"{self.seconds:.1f} s"
        )


def credential_board_path(kind_key: str, local: Path, data: bytes) -> str:
    """`certs/<stem>.<hash8><suffixes>`: a new name for new content, the same for the same."""
    name = local.name
    stem, dot, suffixes = name.partition(".")
    digest = hashlib.sha256(data).hexdigest()[:8]
    return f"certs/{stem}.{digest}{dot}{suffixes}" if dot else f"certs/{name}.{digest}"


def plan_device_files(device_dir, overrides=None) -> tuple[list[BoardFile], BoardFile, dict]:
    """The credential files and the rewritten config.json of a device folder.

    `overrides` replaces config.json values first (rotate points cert_file at the new cert).
    """
    device_dir = Path(device_dir)
    if not device_dir.is_dir():
        raise UserError(f"device folder {device_dir} does not exist")
    config = read_config(device_dir)
    config.update(overrides or {})
    credentials = []
    names = {}
    for key in CREDENTIAL_KEYS:
        relative = config.get(key)
        if not relative:
            continue
        local = device_dir / relative
        if not local.is_file():
            raise UserError(f"{device_dir}/config.json names {key} {relative}, which is missing")
        data = local.read_bytes()
        board_path = credential_board_path(key, local, data)
        credentials.append(BoardFile(board_path, data, "credential", secret=(key == "key_file")))
        config[key] = board_path
        names[key] = board_path
    config_file = BoardFile("config.json", (json.dumps(config, indent=2) + "\n").encode(), "config")
    return credentials, config_file, names


def deploy(
    port: str,
    device_dir,
    dry_run: bool = False,
    firmware_dir=FIRMWARE_DIR,
    compile: bool = True,
    reset: bool = True,
    log=print,
    config_overrides=None,
    main=None,
    _after_credential_copy=None,
) -> DeployReport:
    """Deploy firmware + the device folder to the board on `port`; returns a DeployReport.

    `log(line)` receives one line per step (never file contents). `compile=False` ships .py.
    `main`: the application file installed as main.py instead of the firmware's own.
    """
    started = time.monotonic()
    credentials, config_file, names = plan_device_files(device_dir, config_overrides)
    firmware = _firmware_files(firmware_dir, compile, main)
    report = DeployReport(port=port, dry_run=dry_run, credentials=names)
    transport = open_transport(port)
    try:
        wanted = firmware + credentials + [config_file]
        paths = [f.path for f in wanted] + [UMQTT_BOARD_PATH]
        # a module shipped as .mpy must not stay shadowed by an old .py of the same name
        shadows = [f.path[:-4] + ".py" for f in firmware if f.path.endswith(".mpy")]
        hashes, cert_names, root_names, umqtt = _probe(transport, paths + shadows)
        lib = _plan_umqtt(umqtt, report)
        if lib:
            wanted.insert(len(firmware), lib)
        changed = [f for f in wanted if hashes.get(f.path) != f.sha256]
        report.unchanged = [f.path for f in wanted if f not in changed]
        report.copied = [f.path for f in changed]
        report.bytes_copied = sum(len(f.data) for f in changed)
        keep = {PurePosixPath(p).name for p in names.values()}
        stale_certs = [f"certs/{n}" for n in cert_names if n not in keep]
        stale_root = [n for n in root_names if n.endswith(".tmp")]
        stale = [p for p in shadows if hashes.get(p)] + stale_certs + stale_root
        for f in changed:
            note = ", private key: contents never shown" if f.secret else ""
            log(f"  {'would copy' if dry_run else 'copy'} {f.path} ({len(f.data)} bytes{note})")
        for path in stale:
            log(f"  {'would remove' if dry_run else 'remove'} {path}")
        if dry_run:
            report.removed = stale
            _resume(transport)
            return report
        watchdog = _Watchdog(transport, FILE_TIMEOUT)
        try:
            transport.exec(_MOVE)
            made = set()
            for f in changed:
                if f.kind == "config":
                    continue
                watchdog.feed()
                _put(transport, f, made)
                if f.kind == "credential" and _after_credential_copy:
                    _after_credential_copy(f.path)
            if config_file in changed:
                watchdog.feed()
                _put(transport, config_file, made)  # the commit point: one rename
            watchdog.feed()
            for path in stale:
                transport.exec(f"import os\ntry:\n os.remove({_q(path)})\nexcept OSError:\n pass")
        except Exception as exc:
            if watchdog.fired or isinstance(exc, (OSError, TypeError, AttributeError)):
                raise UserError(
                    f"{port} stopped answering during deploy (reset or unplugged?): "
                    "its config.json still names a complete set of credentials; deploy again"
                ) from None
            raise
        finally:
            watchdog.stop()
        report.removed = stale
        if reset:
            log(f"  reset {port}")
            transport.exec_raw_no_follow("import machine\nmachine.reset()")
            report.reset = True
        else:
            _resume(transport)
    finally:
        try:
            transport.close()
        except OSError:
            pass
    report.seconds = time.monotonic() - started
    return report


class _Watchdog:
    """Closes the port when one step takes longer than `limit` seconds, so reads fail."""

    def __init__(self, transport, limit):
        self.transport, self.limit = transport, limit
        self.fired = False
        self._last = time.monotonic()
        self._done = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def feed(self):
        self._last = time.monotonic()

    def stop(self):
        self._done.set()

    def _watch(self):
        while not self._done.wait(0.1):
            if time.monotonic() - self._last > self.limit:
                self.fired = True
                try:
                    self.transport.serial.close()
                except Exception:
                    pass
                return


def _firmware_files(firmware_dir, compile: bool, main=None) -> list[BoardFile]:
    """The firmware as BoardFile entries (.mpy from mpy-cross, or .py with compile=False);
    `main` replaces main.py."""
    if main is not None and not Path(main).is_file():
        raise UserError(f"{main}: no such application file; pass the path of your main.py")
    with tempfile.TemporaryDirectory(prefix="mpy-") as out:
        files = [
            BoardFile(path, (Path(out) / path).read_bytes(), "firmware")
            for path in build_tree(firmware_dir, out, compile=compile)
        ]
    if main is not None:
        files = [f for f in files if f.path != "main.py"]
        files.append(BoardFile("main.py", Path(main).read_bytes(), "firmware"))
    return files


def _q(path: str) -> str:
    return repr("/" + path.lstrip("/"))


def _probe(transport, paths):
    code = "PATHS = " + repr(["/" + p for p in paths]) + "\n" + _PROBE
    out = transport.exec(code)
    hashes, cert_names, root_names, umqtt = ast.literal_eval(out.decode().strip())
    return {p.lstrip("/"): h for p, h in hashes.items()}, cert_names, root_names, umqtt


def _plan_umqtt(umqtt_file, report):
    """None when the board has umqtt.simple frozen in its firmware; else the pinned copy."""
    if umqtt_file is not None and "lib/" not in umqtt_file:
        report.umqtt = f"the board's own ({umqtt_file})"
        return None
    if not UMQTT_SIMPLE.exists():
        raise UserError(f"{UMQTT_SIMPLE} is missing: run `make setup`")
    report.umqtt = f"pinned copy in {UMQTT_BOARD_PATH}"
    return BoardFile(UMQTT_BOARD_PATH, UMQTT_SIMPLE.read_bytes(), "lib")


def _put(transport, board_file: BoardFile, made: set):
    path = board_file.path
    parent = str(PurePosixPath(path).parent)
    if parent not in (".", "") and parent not in made:
        parts = PurePosixPath(parent).parts
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            transport.exec(f"import os\ntry:\n os.mkdir({_q(sub)})\nexcept OSError:\n pass")
            made.add(sub)
    tmp = path + ".tmp"
    transport.fs_writefile("/" + tmp, board_file.data, chunk_size=CHUNK)
    got = transport.fs_hashfile("/" + tmp, "sha256").hex()
    if got != board_file.sha256:
        raise UserError(f"{path}: the copy on the board has the wrong hash; the old file is kept")
    transport.exec(f"_mv({_q(tmp)}, {_q(path)})")


def _resume(transport):
    # leave the raw REPL and soft-reset so main.py runs again, as before we connected
    transport.exit_raw_repl()
    transport.serial.write(b"\x04")
