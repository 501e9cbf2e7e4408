"""Fetch micropython-umqtt.simple 1.3.4 from PyPI (sha256 pinned) and unpack umqtt/simple.py.

pip cannot install that package (it is packaged for MicroPython's own installer), so we take the
one file we need from the registry's sdist. The agent does not use it (it speaks MQTT itself:
docs/decisions.md); it is deployed for applications, and the ESP32 firmware freezes a newer one.
"""

import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

URL = (
    "https://files.pythonhosted.org/packages/bd/cf/"
    "697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/"
    "micropython-umqtt.simple-1.3.4.tar.gz"
)
SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"
MEMBER = "micropython-umqtt.simple-1.3.4/umqtt/simple.py"


def main(out_dir: str) -> int:
    target = Path(out_dir) / "umqtt" / "simple.py"
    if target.exists():
        return 0
    with urllib.request.urlopen(URL, timeout=60) as response:
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        print(f"fetch_umqtt: {URL} has sha256 {digest}, expected {SHA256}", file=sys.stderr)
        return 2
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        source = archive.extractfile(MEMBER).read()
    target.parent.mkdir(parents=True, exist_ok=True)
    (target.parent / "__init__.py").write_bytes(b"")
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(source)
    tmp.replace(target)
    print(f"umqtt.simple 1.3.4 -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/lib"))
