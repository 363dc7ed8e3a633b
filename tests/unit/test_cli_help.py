"""Every subcommand and option of the kafkapy CLI explains itself in --help."""

from __future__ import annotations

import argparse

from kafkapy.cli import build_parser


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _parsers(sub)
    return found


def test_every_option_has_help() -> None:
    parsers = _parsers(build_parser())
    assert len(parsers) > 10
    missing = [
        f"{parser.prog} {action.dest}"
        for parser in parsers
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert missing == []
