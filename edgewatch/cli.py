"""The `edgewatch` command line.

Each sub-command lives beside the code it drives (``calibration/cli.py``, ``edge/cli.py``, …) and exposes
``add_parser(subparsers)``; the parser it registers carries a ``run(args) -> int`` as its ``func`` default.
This module only assembles them, sets up logging and turns expected errors into one-line messages.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence

from edgewatch import __version__
from edgewatch.errors import UserError

# Modules that register sub-commands, in the order they appear in --help.
COMMAND_MODULES = (
    "edgewatch.demo",
    "edge.cli",
    "server.cli",
    "calibration.cli",
    "edgewatch.scenes.cli",
    "models.cli",
)

log = logging.getLogger("edgewatch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgewatch",
        description="Edge computer vision for street-level public safety: objects thrown or falling "
        "from high-rise buildings, and kitchen hygiene.",
    )
    parser.add_argument("--version", action="version", version=f"edgewatch {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more to stderr (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:  # a part not installed is absent, not broken
            importlib.import_module(name).add_parser(sub)
    return parser


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except UserError as exc:
        # One line, so scripts and log collectors keep the whole message together.
        message = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        print(f"edgewatch {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
