"""The CLI's last line of defence: a path the system refuses is one line, exit 2, no traceback."""

import subprocess
import sys

from host_tools.cli import main
from host_tools.paths import REPO_ROOT


def test_main_oserror_on_a_user_path_prints_one_line_and_exits_2(tmp_path, capsys):
    missing_parent = tmp_path / "no" / "such" / "parent"
    blocker = tmp_path / "no"
    blocker.write_text("a file where a folder is needed")
    code = main(["hub", "serve", "--data", str(missing_parent)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and str(blocker) in err
    assert len(err.splitlines()) == 1


def test_main_oserror_subprocess_has_no_traceback(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "host_tools", "certs", "ca", str(blocker / "ca")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    # `hub list | head -1`: the reader leaves early; no BrokenPipeError traceback follows
    from host_tools.hub.registry import AUTH_SAS, Registry

    registry = Registry(tmp_path / "hub")
    registry.add_device("sensor-0000", AUTH_SAS)
    template = registry.devices["sensor-0000"]
    for n in range(1, 3000):  # more than a pipe holds (each add would save the file)
        registry.devices[f"sensor-{n:04d}"] = dict(template, deviceId=f"sensor-{n:04d}")
    registry.save()
    pipeline = (
        f"{sys.executable} -m host_tools hub list --data {tmp_path / 'hub'} | head -1; "
        "exit ${PIPESTATUS[0]}"
    )
    result = subprocess.run(
        ["bash", "-c", pipeline], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert result.stdout.count("\n") == 1 and "sensor-0000" in result.stdout
    assert result.stderr == "", result.stderr
    assert result.returncode == 141  # what a shell reports for a writer stopped by SIGPIPE
