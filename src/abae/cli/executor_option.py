"""The ``--executor`` option: where proxy scoring and oracle calls run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from abae.scaleout.names import EXECUTOR_ENV_VAR, EXECUTOR_NAMES

if TYPE_CHECKING:
    from abae.scaleout.executor import Executor


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
    from abae.scaleout.choice import executor_named

    return executor_named(args.executor)
