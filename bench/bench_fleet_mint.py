"""Identities per second: `fleet mint --count 2000` (ECC P-256, CA-signed) against a shell loop
of `openssl` commands doing the same work (key, CSR, CA signature with clientAuth, DER copies,
both thumbprints, chain, manifest line), on this machine, in one run.
"""

import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools.certs import create_ca
from host_tools.paths import REPO_ROOT

FLEET_COUNT = 2000
OPENSSL_COUNT = 50  # the loop is slow; its rate is extrapolated from this many
TARGET_RATIO = 100

OPENSSL_LOOP = r"""
set -e
ca="$1"; out="$2"; count="$3"
{ echo 'basicConstraints=critical,CA:FALSE'; echo 'keyUsage=critical,digitalSignature'
  echo 'extendedKeyUsage=clientAuth'; } > "$out/ext.cnf"
echo "device_id,sha1,sha256,not_after" > "$out/manifest.csv"
i=1
while [ "$i" -le "$count" ]; do
  id=$(printf 'ossl-%04d' "$i"); d="$out/$id"; mkdir -m 700 "$d"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$d/device.key.pem" 2>/dev/null
  chmod 600 "$d/device.key.pem"
  openssl pkey -in "$d/device.key.pem" -outform DER -out "$d/device.key.der"
  openssl req -new -key "$d/device.key.pem" -subj "/CN=$id" -out "$d/device.csr"
  openssl x509 -req -in "$d/device.csr" -CA "$ca/ca.crt.pem" -CAkey "$ca/ca.key.pem" \
    -CAcreateserial -days 365 -sha256 -extfile "$out/ext.cnf" -out "$d/device.crt.pem" 2>/dev/null
  openssl x509 -in "$d/device.crt.pem" -outform DER -out "$d/device.crt.der"
  cat "$d/device.crt.pem" "$ca/ca.crt.pem" > "$d/chain.pem"
  s1=$(openssl x509 -in "$d/device.crt.pem" -noout -fingerprint -sha1 | cut -d= -f2 | tr -d :)
  s2=$(openssl x509 -in "$d/device.crt.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)
  na=$(openssl x509 -in "$d/device.crt.pem" -noout -enddate | cut -d= -f2)
  echo "$id,$s1,$s2,$na" >> "$out/manifest.csv"
  i=$((i + 1))
done
"""


def _rate_openssl(ca: Path, work: Path) -> float:
    out = work / "openssl"
    out.mkdir()
    script = work / "loop.sh"
    script.write_text(OPENSSL_LOOP)
    started = time.perf_counter()
    subprocess.run(["sh", str(script), str(ca), str(out), str(OPENSSL_COUNT)], check=True)
    seconds = time.perf_counter() - started
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    assert len(rows) == OPENSSL_COUNT, "the openssl loop did not make every identity"
    return OPENSSL_COUNT / seconds


def _rate_fleet_mint(ca: Path, work: Path) -> float:
    out = work / "fleet"
    argv = [sys.executable, "-m", "host_tools", "fleet", "mint", str(out), "--ca", str(ca)]
    argv += ["--count", str(FLEET_COUNT), "--prefix", "bench-", "--json"]
    started = time.perf_counter()
    subprocess.run(argv, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == FLEET_COUNT, "fleet mint wrote a short manifest"
    for row in rows:
        for role in ("cert_der", "key_der", "cert_pem", "key_pem", "chain_pem"):
            assert (out / row[role]).is_file(), f"missing {row[role]}"
    assert (out / "manifest.json").is_file()
    return FLEET_COUNT / seconds


def _file_creates_per_second(work: Path, count: int = 2000) -> float:
    """How fast this file system creates small files: `fleet mint` writes five per identity."""
    probe = work / "probe"
    probe.mkdir()
    started = time.perf_counter()
    for n in range(count):
        (probe / str(n)).write_bytes(b"x" * 600)
    rate = count / (time.perf_counter() - started)
    shutil.rmtree(probe)
    return rate


def main() -> None:
    """Print both rates and their ratio (the target is at least 100x the openssl loop)."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl CLI is missing: apt-get install openssl")
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        work = Path(tmp)
        ca = create_ca(work / "ca", common_name="Bench CA").cert_pem.parent
        creates = _file_creates_per_second(work)
        ours = _rate_fleet_mint(ca, work)
        theirs = _rate_openssl(ca, work)
    ratio = ours / theirs
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"   fleet mint --count {FLEET_COUNT} (EC P-256, CA-signed): {ours:,.0f} identities/s")
    print(f"   openssl shell loop ({OPENSSL_COUNT}, extrapolated): {theirs:,.1f} identities/s")
    print(f"   ratio: {ratio:,.0f}x ({verdict} the {TARGET_RATIO}x target)")
    print(
        f"   file system: {creates:,.0f} file creations/s in one process "
        f"(5 files per identity: {creates / 5:,.0f} identities/s per process at most)"
    )


if __name__ == "__main__":
    main()
