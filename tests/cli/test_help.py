"""Every command explains itself: each option has a help text and each command shows an example
(`python -m host_tools X --help` is where a user looks first)."""

import argparse

from host_tools.cli import build_parser


def _commands(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))
            return
    yield path, parser


def test_every_option_has_help_and_every_command_an_example():
    missing_help, missing_example = [], []
    for path, parser in _commands(build_parser()):
        for action in parser._actions:
            if action.help is None and action.dest != "help":
                option = "/".join(action.option_strings) or action.dest
                missing_help.append(f"{' '.join(path)} {option}")
        if "example" not in (parser.epilog or ""):
            missing_example.append(" ".join(path))
    assert missing_help == [], f"options without help: {missing_help}"
    assert missing_example == [], f"commands without an example: {missing_example}"
