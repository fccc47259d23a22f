"""The `kinevid` command. Each subcommand lives in `kinevid.cli.commands.<name>` and exposes
`register(subparsers)`, which adds its parser and sets `func` to a callable taking the parsed args."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import KinevidError

# Subcommand modules, in the order `kinevid --help` lists them.
COMMAND_MODULES: tuple[str, ...] = ("demo", "convert", "info", "motion", "render", "data", "train", "eval")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kinevid", description="Human video generation with physically coherent motion (MoSA, EchoMotion)."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"kinevid.cli.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KinevidError as error:
        print(f"kinevid {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
