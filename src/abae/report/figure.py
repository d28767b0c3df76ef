"""The query report figure (PNG, matplotlib Agg): proxy scores by stratum, allocation, estimates."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from abae.engine.result import QueryResult


def write_figure(result: QueryResult, path: str | Path) -> Path:
    """Draw the three panels for ``result`` and save a PNG at ``path``.

    Panels: the proxy score distribution of each stratum (equal-size strata of
    the sorted scores), the labels per stratum by stage, and each aggregate's
    estimate with its interval.
    """
    path = Path(path)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    _proxy_panel(axes[0], result)
    _allocation_panel(axes[1], result)
    _estimate_panel(axes[2], result)
    fig.suptitle(
        f"query {result.query_id}: {result.calls_spent_total}/{result.budget} oracle calls"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _proxy_panel(ax: Axes, result: QueryResult) -> None:
    scores = np.sort(result.proxy_scores)
    sizes = [int(row["size"]) for row in result.strata]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    low, high = (float(scores.min()), float(scores.max())) if scores.size else (0.0, 1.0)
    bins = np.linspace(low, high + 1e-12, 41).tolist()
    for k in range(len(sizes)):
        ax.hist(scores[bounds[k] : bounds[k + 1]], bins=bins, alpha=0.7, label=f"stratum {k}")
    ax.set_xlabel(f"proxy score ({result.proxy})")
    ax.set_ylabel("records")
    ax.set_title("proxy score distribution per stratum")
    ax.legend(fontsize=7)


def _allocation_panel(ax: Axes, result: QueryResult) -> None:
    k = np.arange(len(result.strata))
    stage1 = np.array([row["stage1_labelled"] for row in result.strata])
    stage2 = np.array([row["stage2_allocation"] for row in result.strata])
    ax.bar(k, stage1, label="stage 1 (pilot)")
    ax.bar(k, stage2, bottom=stage1, label="stage 2 (allocated)")
    ax.set_xticks(k)
    ax.set_xlabel("stratum (low → high proxy)")
    ax.set_ylabel("labels")
    ax.set_title("oracle allocation")
    ax.legend(fontsize=8)


def _estimate_panel(ax: Axes, result: QueryResult) -> None:
    """Each interval relative to its estimate (%), so aggregates of any scale share an axis."""
    names = [a.name if a.group is None else f"{a.name} [{a.group}]" for a in result.aggregates]
    y = np.arange(len(names))
    for i, a in enumerate(result.aggregates):
        values = (a.estimate, a.ci_low, a.ci_high)
        if not all(math.isfinite(v) for v in values) or a.estimate == 0:
            ax.text(0.0, i, f"{a.estimate:.4g} (no relative interval)", ha="center", va="center")
            continue
        scale = abs(a.estimate) / 100.0
        low, high = (a.ci_low - a.estimate) / scale, (a.ci_high - a.estimate) / scale
        ax.errorbar([0.0], [i], xerr=[[-low], [high]], fmt="o", capsize=4)
        ax.annotate(
            f"{a.estimate:.4g} [{a.ci_low:.4g}, {a.ci_high:.4g}]",
            (0.0, i),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize=8,
        )
    ax.set_yticks(y, names)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.axvline(0.0, color="grey", lw=0.5)
    ax.set_xlabel("interval relative to the estimate (%)")
    ax.set_title(f"estimates with {result.confidence:.0%} intervals ({result.ci_method})")
