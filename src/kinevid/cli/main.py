"""The `kinevid` command. Each subcommand lives in `kinevid.cli.commands.<name>` and exposes
`register(subparsers)`, which adds its parser and sets `func` to a callable taking the parsed args."""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from ..errors import KinevidError

# Subcommand modules, in the order `kinevid --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "demo", "convert", "info", "motion", "render", "data", "train", "eval", "generate", "serve",
)  # fmt: skip


def build_parser(commands: tuple[str, ...] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The `kinevid` parser with these subcommands (all by default)."""
    parser = argparse.ArgumentParser(
        prog="kinevid", description="Human video generation with physically coherent motion (MoSA, EchoMotion)."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands:
        importlib.import_module(f"kinevid.cli.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    # `kinevid motion ...` imports only its own command module (the others pull in the renderer,
    # video and training code); anything else, `--help` included, gets the full parser.
    named = arguments[0] if arguments and arguments[0] in COMMAND_MODULES else None
    parser = build_parser((named,) if named else COMMAND_MODULES)
    args = parser.parse_args(arguments)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(args.command)
            return int(args.func(args) or 0)
    except KinevidError as error:
        print(f"kinevid {args.command}: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a disk that fills up, a file that vanishes: one line, not a traceback
        where = f"{error.filename}: " if error.filename else ""
        print(f"kinevid {args.command}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 1


def _one_line_warnings(command: str):
    """`warnings.showwarning` replacement printing `kinevid COMMAND: warning: message` (no source line)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"kinevid {command}: warning: {message}", file=sys.stderr if file is None else file)

    return show


if __name__ == "__main__":
    sys.exit(main())
