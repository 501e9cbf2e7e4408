"""Debian's mosquitto for the wire bench: found on PATH (or installed with apt-get), started on a
free loopback port with a generated mutual-TLS listener and otherwise its default configuration.

    with running_mosquitto(tmp, credentials, nodelay=False) as broker:
        broker.port

`credentials` comes from `make_credentials` (the project's certs API: a CA, a server certificate
for localhost, device certificates signed by that CA so the CN becomes the MQTT user name).
"""

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from host_tools import certs


@dataclass(frozen=True)
class BrokerCredentials:
    ca_dir: Path
    ca_pem: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class Broker:
    port: int
    config: Path
    log: Path


def find_mosquitto() -> tuple[str | None, str]:
    """(path to mosquitto or None, a one-line note on how it was found or why it is missing)."""
    found = shutil.which("mosquitto") or shutil.which("/usr/sbin/mosquitto")
    if found:
        return found, "on PATH"
    if shutil.which("apt-get") is None:
        return None, "mosquitto is not on PATH and there is no apt-get to install it"
    print("   mosquitto not found: installing it with apt-get (Debian's package)", flush=True)
    try:
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "mosquitto"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=300,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"apt-get install mosquitto failed ({type(exc).__name__})"
    found = shutil.which("mosquitto") or shutil.which("/usr/sbin/mosquitto")
    return (found, "installed with apt-get") if found else (None, "installed but not found")


def mosquitto_version(binary: str) -> str:
    out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].strip() if first else "mosquitto"


def make_credentials(root: Path) -> BrokerCredentials:
    ca = certs.create_ca(root / "ca", common_name="wire bench CA")
    server = certs.create_server_cert(root / "ca", root / "server", hostnames=("localhost",))
    # mosquitto may drop root privileges before it reads its files: make them readable
    for path in (root, root / "ca", root / "server"):
        path.chmod(0o755)
    for path in (ca.cert_pem, server.cert_pem, server.key_pem):
        path.chmod(0o644)
    return BrokerCredentials(root / "ca", ca.cert_pem, server.cert_pem, server.key_pem)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited ({proc.returncode}) before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"mosquitto not listening on {port} within {timeout} s")


@contextlib.contextmanager
def running_mosquitto(binary: str, root: Path, creds: BrokerCredentials, nodelay: bool = False):
    """mosquitto on 127.0.0.1:<free port>: default settings plus the TLS listener (and
    `set_tcp_nodelay true` only when `nodelay`)."""
    port = _free_port()
    name = "nodelay" if nodelay else "default"
    config = root / f"mosquitto-{name}.conf"
    log = root / f"mosquitto-{name}.log"
    lines = [
        f"listener {port} 127.0.0.1",
        f"cafile {creds.ca_pem}",
        f"certfile {creds.server_cert}",
        f"keyfile {creds.server_key}",
        "require_certificate true",
        "use_identity_as_username true",
    ]
    if nodelay:
        lines.append("set_tcp_nodelay true")
    config.write_text("\n".join(lines) + "\n")
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "-c", str(config)], stdout=out, stderr=out)
    try:
        _wait_listening(port, proc)
        yield Broker(port, config, log)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
