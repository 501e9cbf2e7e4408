"""`python -m host_tools <command>`: one thin CLI over the host tools' Python API.

Each command group lives in its own module with a `register(subparsers)` function that adds its
parser(s) and sets `func` (a callable taking the parsed args and returning an exit code).
"""

import argparse
import importlib
import sys
from pathlib import Path

from host_tools.errors import UserError

# module -> what it registers; imported lazily so one command's dependencies never slow another
COMMAND_MODULES = (
    "host_tools.certs.cli",  # certs ..., fleet mint
    "host_tools.hub.cli",  # hub serve|register|list|ca|c2d|invoke|twin|telemetry
    "host_tools.dps.cli",  # dps info|enroll|enrollment-group|list|show|enable|disable|...
    "host_tools.emulated_board.cli",  # emulated-board run
    "host_tools.virtual_board.cli",  # board serve
    "host_tools.deploy.cli",  # flash, deploy, rotate, fleet flash, config
    "host_tools.demo",  # demo
    "host_tools.doctor.cli",  # doctor
)


_GROUPS: dict = {}


def add_command(subparsers, name: str, help: str, examples, description: str | None = None):
    """Add command `name` and return its parser: `help` in the command list, `description`
    (default: `help`) atop its --help, and an epilog of `examples`, one invocation a line.

    Each example is what follows the command (`examples=("ca/root --cn 'My Root CA'",)`); --help
    prefixes it with the command as the user typed it (`python -m host_tools certs ca` or
    `iothub-x509 certs ca`), and the raw formatter keeps the lines as written.
    """
    heading = "example:" if len(examples) == 1 else "examples:"
    lines = "".join(f"\n  %(prog)s {example.replace('%', '%%')}".rstrip() for example in examples)
    return subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=heading + lines,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_epilog_lines(parser, heading: str, line: str) -> None:
    """Add `line` under `heading` in a parser's epilog (after its examples), heading once."""
    epilog = parser.epilog or ""
    if f"\n{heading}" not in epilog:
        epilog += f"\n\n{heading}"
    parser.epilog = f"{epilog}\n  {line.replace('%', '%%')}"


def command_group(subparsers, name: str, help: str):
    """The sub-subparsers of a command group shared by modules (`fleet mint`, `fleet flash`)."""
    key = (id(subparsers), name)
    if key not in _GROUPS:
        group = subparsers.add_parser(name, help=help, description=help)
        _GROUPS[key] = group.add_subparsers(dest=f"{name}_command", required=True)
    return _GROUPS[key]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_program_name())
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that command group is not built yet
            raise
        module.register(subparsers)
    return parser


def _program_name() -> str:
    # the console script (`iothub-x509`) or `python -m host_tools`, as the user typed it
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name and name not in ("__main__.py", "-c") else "python -m host_tools"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except BrokenPipeError:
        # `... | head` closed our stdout: the reader has what it wanted, as with grep or cat
        _silence_stdout()
        return 141
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # A file or folder the user named that the system refuses (missing parent, read-only,
        # no permission): the OS says what and why. Other OSErrors are bugs: let them show.
        if exc.filename is None:
            raise
        print(f"error: {exc.filename}: {exc.strerror}; check the path", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _silence_stdout() -> None:
    # Python flushes stdout again at exit and would report the same broken pipe
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
