"""A tqdm progress bar on stderr fed by the engine's progress events."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

if TYPE_CHECKING:
    from abae.engine import QueryProgress


class QueryProgressBar:
    """``records sampled/budget``, then the oracle calls bought, the labels reused and the
    running estimate."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._bar: Any = None
        self._enabled = enabled

    def __call__(self, progress: QueryProgress) -> None:
        if not self._enabled or progress.budget <= 0:
            return
        if self._bar is None:
            self._bar = tqdm(
                total=progress.budget, unit="rec", file=sys.stderr, desc="records sampled"
            )
        self._bar.n = min(progress.records, progress.budget)
        estimate = (
            "…" if math.isnan(progress.running_estimate) else f"{progress.running_estimate:.4g}"
        )
        self._bar.set_postfix_str(
            f"oracle calls {progress.oracle_calls}, labels reused {progress.labels_reused}, "
            f"estimate {estimate}",
            refresh=False,
        )
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
