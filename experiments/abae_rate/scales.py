"""The sizes of the experiments: the full run and the ``--quick`` smoke run."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """Every size knob of the four experiments.

    Attributes:
        records: records per population.
        seeds: runs per design point.
        bootstrap: bootstrap replicates over seeds (intervals, bands).
        grid_generators, grid_n1, grid_n2: experiment 1, the (N1, N2) grid
            (``N1`` labels per stratum in stage 1, ``N2`` in stage 2 overall).
        slope_generators, slope_shares, slope_budgets: experiment 2.
        constant_populations: experiment 3, ``(generator, proxy_noise)`` pairs.
        constant_series: experiment 3, ``(allocation, stage1_share)`` pairs.
        constant_budget: experiment 3, the budget ``N``.
        share_generators, share_budgets, share_values: experiment 4.
    """

    records: int
    seeds: int
    bootstrap: int
    grid_generators: tuple[str, ...]
    grid_n1: tuple[int, ...]
    grid_n2: tuple[int, ...]
    slope_generators: tuple[str, ...]
    slope_shares: tuple[float, ...]
    slope_budgets: tuple[int, ...]
    constant_populations: tuple[tuple[str, float], ...]
    constant_series: tuple[tuple[str, float], ...]
    constant_budget: int
    share_generators: tuple[str, ...]
    share_budgets: tuple[int, ...]
    share_values: tuple[float, ...]


FULL = Scale(
    records=1_000_000,
    seeds=400,
    bootstrap=1000,
    grid_generators=("paper", "growing"),
    grid_n1=(10, 20, 40, 80, 160, 320),
    grid_n2=(250, 500, 1000, 2000, 4000, 8000),
    slope_generators=("paper", "growing"),
    slope_shares=(0.1, 0.25, 0.5, 0.75),
    slope_budgets=(500, 1000, 2000, 4000, 8000, 16000),
    constant_populations=(
        ("paper", 0.0),
        ("paper", 0.1),
        ("paper", 0.2),
        ("paper", 0.4),
        ("paper", 0.8),
        ("paper", math.inf),
        ("growing", 0.0),
        ("growing", 0.2),
        ("rare", 0.0),
    ),
    constant_series=(("abae", 0.5), ("abae", 0.1), ("variance", 0.1)),
    constant_budget=5000,
    share_generators=("paper", "growing"),
    share_budgets=(1000, 5000),
    share_values=(0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8, 0.9, 1.0),
)

QUICK = Scale(
    records=50_000,
    seeds=16,
    bootstrap=100,
    grid_generators=("paper",),
    grid_n1=(10, 40, 160),
    grid_n2=(250, 1000, 4000),
    slope_generators=("paper",),
    slope_shares=(0.25, 0.5),
    slope_budgets=(250, 1000, 4000),
    constant_populations=(("paper", 0.0), ("paper", 0.4), ("growing", 0.0)),
    constant_series=(("abae", 0.5),),
    constant_budget=1000,
    share_generators=("paper",),
    share_budgets=(1000,),
    share_values=(0.05, 0.3, 1.0),
)
