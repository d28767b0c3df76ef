"""What every experiment needs: the scale, the Monte Carlo runner and where to write."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mse_runs import MonteCarlo
from populations import PopulationSpec
from scales import Scale

STRATA = 5
"""``K``, the number of strata (``abae.estimate``'s default)."""


@dataclass(frozen=True)
class ExperimentContext:
    """Shared settings of one run of the experiments.

    Attributes:
        scale: the sizes (full or quick).
        runner: runs design points over the scale's seeds.
        out_dir: where tables and plots go (created by the caller).
    """

    scale: Scale
    runner: MonteCarlo
    out_dir: Path

    def population(self, generator: str, proxy_noise: float = 0.0) -> PopulationSpec:
        """The population of ``generator`` at this scale's size."""
        return PopulationSpec(generator, self.scale.records, proxy_noise)


@dataclass(frozen=True)
class Section:
    """One experiment's outcome.

    Attributes:
        title: a heading.
        markdown: its tables (and notes) as Markdown.
        headline: the few numbers worth quoting, JSON-serialisable.
        files: names of the files it wrote in ``out_dir``.
    """

    title: str
    markdown: str
    headline: dict[str, Any]
    files: list[str] = field(default_factory=list)
