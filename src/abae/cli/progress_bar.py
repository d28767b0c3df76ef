"""A tqdm progress bar on stderr fed by the engine's progress events."""

from __future__ import annotations

import math
import sys
from typing import Any

from tqdm import tqdm

from abae.engine import QueryProgress


class QueryProgressBar:
    """``labelled/budget`` with fresh calls, reused labels and the running estimate."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._bar: Any = None
        self._enabled = enabled

    def __call__(self, progress: QueryProgress) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            self._bar = tqdm(total=progress.budget, unit="rec", file=sys.stderr, desc="oracle")
        self._bar.n = min(progress.labelled, progress.budget)
        estimate = (
            "…" if math.isnan(progress.running_estimate) else f"{progress.running_estimate:.4g}"
        )
        self._bar.set_postfix_str(
            f"calls={progress.fresh_labels} reused={progress.reused_labels} est={estimate}",
            refresh=False,
        )
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
