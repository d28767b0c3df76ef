"""The ``--pilot N|auto`` option of the commands that train a proxy (light: no torch)."""

from __future__ import annotations

import argparse

AUTO = "auto"


def pilot_size(text: str) -> int | str:
    """``--pilot``: ``auto`` or a number of labels (at least 4).

    Example:
        >>> pilot_size("auto"), pilot_size("AUTO"), pilot_size("200")
        ('auto', 'auto', 200)
    """
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"--pilot must be a number or 'auto', got {text!r}"
        ) from error
    if value < 4:
        raise argparse.ArgumentTypeError(f"--pilot must be at least 4 labels, got {value}")
    return value


def add_pilot_option(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--pilot N|auto`` (default ``auto``); ``what`` ends the help's first clause."""
    parser.add_argument(
        "--pilot",
        type=pilot_size,
        default=AUTO,
        metavar="N|auto",
        help=(
            f"pilot labels {what}, or 'auto' (default): grow the pilot in rounds (100, 200, "
            "400, ...) until the proxy's cross-validated AUC stops improving"
        ),
    )
