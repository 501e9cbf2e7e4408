#!/usr/bin/env bash
# Installs the MicroPython Unix port (Debian 13's package, linked to mbedTLS 3.6 like the
# ESP32 port) and writes a wrapper at $1 (default .cache/bin/micropython).
# Debian 13: apt. Debian 12: download trixie's packages with a private apt state (the system's
# apt configuration is never touched) and run them through their own dynamic loader.
set -euo pipefail
WRAPPER=${1:-.cache/bin/micropython}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$ROOT/.cache/micropython"
mkdir -p "$(dirname "$WRAPPER")"

if [ -x "$WRAPPER" ] && "$WRAPPER" -c 'import tls' >/dev/null 2>&1; then
    exit 0
fi

. /etc/os-release
if [ "${VERSION_CODENAME:-}" != "bookworm" ] && apt-cache policy micropython 2>/dev/null | grep -q 'Candidate: 1\.'; then
    command -v micropython >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq micropython >/dev/null; }
    ln -sf "$(command -v micropython)" "$WRAPPER"
elif [ "${VERSION_CODENAME:-}" != "bookworm" ] && ! command -v micropython >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq micropython >/dev/null
    ln -sf "$(command -v micropython)" "$WRAPPER"
else
    rm -rf "$CACHE"; mkdir -p "$CACHE/apt/lists/partial" "$CACHE/debs" "$CACHE/root"
    echo "deb http://deb.debian.org/debian trixie main" > "$CACHE/apt/sources.list"
    APT=(apt-get -qq -o Dir::Etc::sourcelist="$CACHE/apt/sources.list" -o Dir::Etc::sourceparts=-
         -o Dir::State::Lists="$CACHE/apt/lists" -o Dir::Cache::archives="$CACHE/debs"
         -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0)
    "${APT[@]}" update
    (cd "$CACHE/debs" && "${APT[@]}" download micropython libmbedtls21 libmbedcrypto16 libmbedx509-7 libffi8 libc6)
    for deb in "$CACHE"/debs/*.deb; do dpkg-deb -x "$deb" "$CACHE/root"; done
    LIBS="$CACHE/root/usr/lib/x86_64-linux-gnu:$CACHE/root/lib/x86_64-linux-gnu"
    LOADER=$(ls "$CACHE"/root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$CACHE"/root/lib64/ld-linux-x86-64.so.2 2>/dev/null | head -1 || true)
    cat > "$WRAPPER" <<WRAP
#!/bin/sh
exec "$LOADER" --library-path "$LIBS" "$CACHE/root/usr/bin/micropython" "\$@"
WRAP
    chmod +x "$WRAPPER"
fi
"$WRAPPER" -c 'import tls, sys; print("micropython", sys.version)'
