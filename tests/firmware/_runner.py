"""Run a cases_*.py table on the MicroPython Unix port (the same file pytest imports)."""

import os
import subprocess

from _cases import table_summary

from host_tools.paths import FIRMWARE_DIR

HERE = FIRMWARE_DIR.parent / "tests" / "firmware"


def run_on_micropython(micropython_bin, name, cwd):
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE_DIR}:{HERE}")
    out = subprocess.run(
        [str(micropython_bin), str(HERE / f"{name}.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.returncode, out.stdout + out.stderr


def assert_table_passes_on_micropython(micropython_bin, table, cwd) -> None:
    """Run the imported cases_*.py module `table` as a script; every one of its CASES passes."""
    name = table.__name__
    code, output = run_on_micropython(micropython_bin, name, cwd)
    assert code == 0, output
    assert table_summary(name, len(table.CASES), 0) in output, output
