"""The main job (``abae demo``): a built-in dataset end to end through proxy and engine.

Example:
    >>> from abae.demo import DemoOptions, run_demo, format_outcome  # doctest: +SKIP
    >>> print(format_outcome(run_demo(DemoOptions(dataset="fashion"))))  # doctest: +SKIP
"""

from __future__ import annotations

from abae.demo.builtin_datasets import DATASET_NAMES, DemoDataset, load_dataset
from abae.demo.main_job import DemoOptions, DemoOutcome, format_outcome, run_demo

__all__ = [
    "DATASET_NAMES",
    "DemoDataset",
    "DemoOptions",
    "DemoOutcome",
    "format_outcome",
    "load_dataset",
    "run_demo",
]
