"""The ``--report DIR`` option: checked before any oracle call is paid for."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def report_folder(text: str) -> Path:
    """``--report``: a folder that exists or can be created, and can be written.

    Raises:
        argparse.ArgumentTypeError: the path is a file, or under a file, or not writable.
    """
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} exists and is not a folder; give a folder for the PNG and HTML report"
        )
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(
            f"cannot create the report folder {text}: {existing} is a file"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(
            f"cannot write the report folder {text}: {existing} is read-only"
        )
    return path


def add_report_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--report DIR`` (PNG + HTML, the folder created if needed)."""
    parser.add_argument(
        "--report",
        metavar="DIR",
        type=report_folder,
        default=None,
        help="write the PNG + HTML report into this folder (created if needed)",
    )
