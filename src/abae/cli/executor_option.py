"""The ``--executor`` option: where proxy scoring and oracle calls run."""

from __future__ import annotations

import argparse

from abae.scaleout.executor import EXECUTOR_ENV_VAR, EXECUTOR_NAMES, Executor, executor_named


def add_executor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        choices=EXECUTOR_NAMES,
        default=None,
        help=(
            "run proxy scoring and oracle calls in this process ('local') or as Ray tasks "
            f"('ray', needs the [ray] extra; joins $RAY_ADDRESS or starts a local cluster); "
            f"default: ${EXECUTOR_ENV_VAR}, else local"
        ),
    )


def chosen_executor(args: argparse.Namespace) -> Executor:
    return executor_named(args.executor)
