#!/usr/bin/env bash
# Installs a MicroPython Unix port (Debian 13's package: MicroPython 1.25 linked to mbedTLS 3.6,
# the TLS library of the ESP32 port) and writes a wrapper at WRAPPER.
#
#   install_micropython.sh WRAPPER [amd64|i386]
#
# amd64 on Debian 13: apt. Otherwise (Debian 12's libc is too old; i386 is a foreign
# architecture) trixie's packages are downloaded with a private apt state (the system's apt
# configuration is never touched), unpacked into .cache/ and run through their own loader.
# The i386 build is the 32-bit VM: its objects have the ESP32's word size, so its heap figures
# are the ones an ESP32 would show.
set -euo pipefail
WRAPPER=${1:-.cache/bin/micropython}
ARCH=${2:-amd64}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$ROOT/.cache/micropython-$ARCH"
mkdir -p "$(dirname "$WRAPPER")"

if [ -x "$WRAPPER" ] && "$WRAPPER" -c 'import tls' >/dev/null 2>&1; then
    exit 0
fi

. /etc/os-release
if [ "$ARCH" = amd64 ] && [ "${VERSION_CODENAME:-}" != "bookworm" ]; then
    if ! command -v micropython >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq micropython >/dev/null
    fi
    ln -sf "$(command -v micropython)" "$WRAPPER"
else
    case "$ARCH" in
        amd64) LIBDIR=x86_64-linux-gnu LOADER_NAME=ld-linux-x86-64.so.2 ;;
        i386) LIBDIR=i386-linux-gnu LOADER_NAME=ld-linux.so.2 ;;
        *) echo "install_micropython.sh: unknown architecture $ARCH (amd64 or i386)" >&2; exit 2 ;;
    esac
    rm -rf "$CACHE"; mkdir -p "$CACHE/apt/lists/partial" "$CACHE/debs" "$CACHE/root"
    echo "deb [arch=$ARCH] http://deb.debian.org/debian trixie main" > "$CACHE/apt/sources.list"
    APT=(apt-get -qq -o Dir::Etc::sourcelist="$CACHE/apt/sources.list" -o Dir::Etc::sourceparts=-
         -o Dir::State::Lists="$CACHE/apt/lists" -o Dir::Cache::archives="$CACHE/debs"
         -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0
         -o APT::Architecture="$ARCH" -o APT::Architectures::="$ARCH")
    "${APT[@]}" update
    # apt warns that it downloads as root rather than _apt into our private folder: expected
    (cd "$CACHE/debs" && "${APT[@]}" download \
        "micropython:$ARCH" "libmbedtls21:$ARCH" "libmbedcrypto16:$ARCH" \
        "libmbedx509-7:$ARCH" "libffi8:$ARCH" "libc6:$ARCH" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    for deb in "$CACHE"/debs/*.deb; do dpkg-deb -x "$deb" "$CACHE/root"; done
    LIBS="$CACHE/root/usr/lib/$LIBDIR:$CACHE/root/lib/$LIBDIR"
    LOADER="$CACHE/root/usr/lib/$LIBDIR/$LOADER_NAME"
    [ -e "$LOADER" ] || LOADER="$CACHE/root/lib/$LIBDIR/$LOADER_NAME"
    cat > "$WRAPPER" <<WRAP
#!/bin/sh
exec "$LOADER" --library-path "$LIBS" "$CACHE/root/usr/bin/micropython" "\$@"
WRAP
    chmod +x "$WRAPPER"
fi
"$WRAPPER" -c 'import tls, sys; print("micropython", sys.version, sys.implementation._machine, "ok")'
