"""The docs' commands, run as written: every shell block in README.md and docs/*.md that needs no
board and no cloud runs here, in order, in a fresh folder; the others say why they cannot.

A block is tagged by an HTML comment on the line before its fence:
  <!-- doc-test: run -->         each line runs (bash) and must exit 0; `export VAR=...` sets VAR
                                 for the lines after it (unless a background line provided it)
  <!-- doc-test: background -->  each line starts and keeps running until the file is done; its
                                 first output line must come within 60 s (a /dev/pts path
                                 becomes $PORT)
  <!-- doc-test: until "TEXT" --> the one line runs until TEXT appears in its output
  <!-- no-doc-test: REASON -->   shown, not run (a real board, Azure)
A block holding a command and no tag fails the first test: docs and tools cannot drift apart.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from host_tools.paths import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
COMMANDS = ("python ", "iothub-x509 ", "make ", "mpremote ", "az ", "curl ", ".venv/", "export ")
TAG = re.compile(r"^<!--\s*(doc-test|no-doc-test):\s*(.*?)\s*-->$")
LINE_TIMEOUT = 180


def blocks(path: Path):
    """(line number, tag or None, tag argument, command lines) for each fenced block."""
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            tag = TAG.match(lines[start - 1].strip()) if start else None
            commands = _command_lines(body)
            found.append((start + 1, tag and tag.group(1), tag and tag.group(2), commands))
        i += 1
    return found


def _command_lines(body):
    out = []
    for line in body:
        text = line.split(" #")[0].strip() if not line.strip().startswith("#") else ""
        if text.startswith(COMMANDS):
            out.append(text)
    return out


def test_every_command_block_is_run_or_says_why():
    untagged = [
        f"{path.relative_to(REPO_ROOT)}:{line}"
        for path in DOCS
        for line, tag, _, commands in blocks(path)
        if commands and tag is None
    ]
    assert untagged == [], f"tag these blocks (doc-test: run, or no-doc-test: why): {untagged}"


TESTED = [p for p in DOCS if any(tag == "doc-test" for _, tag, _, _ in blocks(p))]


@pytest.mark.parametrize("path", TESTED, ids=lambda p: p.name)
def test_doc_commands_work_as_written(path, tmp_path):
    (tmp_path / "examples").symlink_to(REPO_ROOT / "examples")  # "from the repository's folder"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    provided, background = set(), []
    try:
        for line, tag, argument, commands in blocks(path):
            if tag != "doc-test":
                continue
            where = f"{path.name}:{line}"
            kind = argument.split()[0] if argument else ""
            if kind == "background":
                for command in commands:
                    process, first = _start(command, tmp_path, env, where)
                    background.append(process)
                    if first.startswith("/dev/pts/"):
                        env["PORT"] = first
                        provided.add("PORT")
            elif kind == "until":
                (command,) = commands
                _run_until(command, shlex.split(argument)[1], tmp_path, env, where)
            elif kind == "run":
                for command in commands:
                    _run(command, tmp_path, env, provided, where)
            else:
                pytest.fail(f"{where}: unknown doc-test kind {argument!r}")
    finally:
        for process in background:
            _stop(process)


def _run(command, cwd, env, provided, where):
    if command.startswith("export "):
        name, _, value = command[len("export ") :].partition("=")
        if name not in provided:
            env[name] = os.path.expandvars(value)
        return
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=LINE_TIMEOUT,
    )
    assert result.returncode == 0, f"{where}: `{command}` exited {result.returncode}:\n" + (
        result.stdout[-1500:] + result.stderr[-1500:]
    )


def _start(command, cwd, env, where):
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    first = _first_line(process, 60)
    assert first, f"{where}: `{command}` printed nothing in 60 s"
    time.sleep(0.2)
    assert process.poll() is None, f"{where}: `{command}` stopped: {first}"
    return process, first


def _first_line(process, timeout):
    got = []
    reader = threading.Thread(target=lambda: got.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0].strip() if got else ""


def _run_until(command, text, cwd, env, where):
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = _first_line(process, max(0.1, deadline - time.monotonic()))
            if not line and process.poll() is not None:
                break
            seen.append(line)
            if text in line:
                return
        pytest.fail(f"{where}: `{command}` never printed {text!r}; it printed: {seen[-10:]}")
    finally:
        _stop(process)


def _stop(process):
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
