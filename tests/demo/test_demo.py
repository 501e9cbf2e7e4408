"""`make demo` as the README promises it: the whole loop on this machine, in its own folder."""

import subprocess
import sys


def test_demo_runs_the_whole_loop_in_a_folder_of_its_own(tmp_path):
    # --workdir outside the repository, as its --help example shows
    result = subprocess.run(
        [sys.executable, "-m", "host_tools", "demo", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for step in (
        "connected over mutual TLS",
        "telemetry  {",
        "reported interval_s = 1",
        "status 200",
        "cloud says hello from the cloud",
    ):
        assert step in out, f"{step!r} missing from the demo's output:\n{out[-3000:]}"
