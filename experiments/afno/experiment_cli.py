"""The command line every AFNO experiment script shares: ``--quick``, ``--results-dir``, ``--threads``."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def parse_experiment_args(description: str, argv: list[str]) -> argparse.Namespace:
    """Parse the shared options and apply ``--threads`` to torch."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    parser.add_argument("--results-dir", type=Path, default=None, help="where to write")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    return args


def results_folder(args: argparse.Namespace, name: str) -> Path:
    """``--results-dir``, else ``results/NAME`` (``results/quick/NAME`` with ``--quick``); created."""
    default = HERE / "results" / ("quick" if args.quick else "") / name
    folder: Path = args.results_dir or default
    folder.mkdir(parents=True, exist_ok=True)
    return folder
