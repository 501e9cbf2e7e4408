"""Where the repository keeps things: one place, so no module guesses a path."""

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# In a checkout (or `pip install -e`) the firmware and board profiles are beside host_tools/; a
# `pip install .` puts them in <prefix>/share/iothub-x509 (pyproject.toml's data-files).
IN_CHECKOUT = (REPO_ROOT / "firmware").is_dir()
_SHARED = REPO_ROOT if IN_CHECKOUT else Path(sys.prefix) / "share" / "iothub-x509"
FIRMWARE_DIR = _SHARED / "firmware"
BOARDS_DIR = _SHARED / "boards"
BUILD_DIR = REPO_ROOT / "build" if IN_CHECKOUT else Path.home() / ".cache" / "iothub-x509"
# umqtt.simple as fetched by `make setup` (scripts/fetch_umqtt.py)
UMQTT_LIB_DIR = BUILD_DIR / "lib"
UMQTT_SIMPLE = UMQTT_LIB_DIR / "umqtt" / "simple.py"
MICROPYTHON_BIN = Path(os.environ.get("MICROPYTHON", REPO_ROOT / ".cache" / "bin" / "micropython"))
# the same port built for i386: 32-bit objects like the ESP32's, so its heap figures are an ESP32's
MICROPYTHON32_BIN = Path(
    os.environ.get("MICROPYTHON32", REPO_ROOT / ".cache" / "bin" / "micropython-i386")
)
