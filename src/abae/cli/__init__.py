"""The ``abae`` command line: a thin layer over the Python API.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds an :mod:`argparse` parser whose ``func`` default runs the command
and returns the process exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from abae.cli import demo, explain, import_records, labels, list_store, proxy, query, show
from abae.errors import AbaeError

COMMANDS = (demo, import_records, proxy, query, explain, show, list_store, labels)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abae",
        description=(
            "Approximate aggregation queries with expensive predicates over image "
            "collections: AFNO proxies rank records, ABae spends the oracle budget."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 user error, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except (AbaeError, ValueError, FileNotFoundError) as error:
        print(f"abae {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"abae {args.command}: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
