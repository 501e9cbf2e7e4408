"""pyright against the ESP32 port's stubs (micropython-esp32-stubs + micropython-stdlib-stubs):
the firmware uses only APIs the board has, and the check does fail on a CPython-only API."""

import json
import subprocess
import sys
from pathlib import Path

from host_tools.paths import FIRMWARE_DIR

PYRIGHT = Path(sys.executable).parent / "pyright"
CONFIG = FIRMWARE_DIR / "pyrightconfig.json"


def _pyright(config: Path):
    result = subprocess.run(
        [str(PYRIGHT), "--outputjson", "-p", str(config)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    return [d for d in report["generalDiagnostics"] if d["severity"] == "error"], report


def test_firmware_passes_pyright_against_esp32_stubs():
    errors, report = _pyright(CONFIG)
    assert report["summary"]["filesAnalyzed"] >= 10
    assert errors == [], "\n".join(
        f"{e['file']}:{e['range']['start']['line'] + 1}: {e['message']}" for e in errors
    )


def test_pyright_flags_cpython_only_apis(tmp_path):
    config = json.loads(CONFIG.read_text())
    root = FIRMWARE_DIR.parent
    for key in ("typeshedPath", "stubPath"):
        config[key] = str((FIRMWARE_DIR / config[key]).resolve())
    config["venvPath"] = str(root)
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    (tmp_path / "bad.py").write_text(
        "import os\nimport ssl\nimport time\n"
        "t = time.monotonic()\n"
        "p = os.path.join('a', 'b')\n"
        "c = ssl.create_default_context()\n"
        "ok = time.ticks_ms()\n"
    )
    errors, _ = _pyright(tmp_path / "pyrightconfig.json")
    flagged = sorted(e["range"]["start"]["line"] + 1 for e in errors)
    assert flagged == [4, 5, 6], errors
