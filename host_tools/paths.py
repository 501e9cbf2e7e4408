"""Where the repository keeps things: one place, so no module guesses a path."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
BUILD_DIR = REPO_ROOT / "build"
# umqtt.simple as fetched by `make setup` (scripts/fetch_umqtt.py)
UMQTT_LIB_DIR = BUILD_DIR / "lib"
UMQTT_SIMPLE = UMQTT_LIB_DIR / "umqtt" / "simple.py"
MICROPYTHON_BIN = Path(os.environ.get("MICROPYTHON", REPO_ROOT / ".cache" / "bin" / "micropython"))
# the same port built for i386: 32-bit objects like the ESP32's, so its heap figures are an ESP32's
MICROPYTHON32_BIN = Path(
    os.environ.get("MICROPYTHON32", REPO_ROOT / ".cache" / "bin" / "micropython-i386")
)
