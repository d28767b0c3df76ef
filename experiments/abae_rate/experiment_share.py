"""Experiment 4: MSE against the stage-1 share C at fixed budgets (the U-shape)."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from experiment_context import STRATA, ExperimentContext, Section
from linearised_mse import asymptotic_labels, linearised_mse, stratum_moments
from mse_runs import DesignPoint, MseSummary, summarise
from populations import cached_population
from result_tables import markdown_table, write_csv


def run_share(context: ExperimentContext) -> Section:
    """Run experiment 4 for every generator and budget; write tables and the plot."""
    scale = context.scale
    shares = np.array(scale.share_values)
    point_rows: list[dict[str, Any]] = []
    best_rows: list[dict[str, Any]] = []
    curves: list[tuple[str, int, MseSummary, np.ndarray]] = []
    for g, generator in enumerate(scale.share_generators):
        spec = context.population(generator)
        moments = stratum_moments(cached_population(spec), STRATA)
        for b, budget in enumerate(scale.share_budgets):
            points = [DesignPoint(spec, budget, float(share)) for share in shares]
            summary = summarise(context.runner.errors(points), scale.bootstrap, 400 + 10 * g + b)
            predicted = np.array(
                [
                    linearised_mse(moments, asymptotic_labels(moments, budget, share, "abae"))
                    for share in shares
                ]
            )
            for i, share in enumerate(shares):
                point_rows.append(
                    {
                        "generator": generator,
                        "budget": budget,
                        "stage1_share": float(share),
                        "n1_per_stratum": int(np.floor(share * budget / STRATA + 1e-9)),
                        "seeds": scale.seeds,
                        "mse": float(summary.mse[i]),
                        "mse_low": float(summary.low[i]),
                        "mse_high": float(summary.high[i]),
                        "n_times_mse": float(budget * summary.mse[i]),
                        "linearised_n_times_mse": float(budget * predicted[i]),
                        "bias": float(summary.bias[i]),
                        "undefined_runs": int(summary.undefined[i]),
                    }
                )
            best_rows.append(best_share_row(generator, budget, shares, summary))
            curves.append((generator, budget, summary, predicted))
    write_csv(point_rows, context.out_dir / "stage1_share.csv")
    write_csv(best_rows, context.out_dir / "stage1_share_best.csv")
    plot_share(context, shares, curves)
    markdown = (
        "Best stage-1 share per generator and budget. `argmin_share_range` is the 95% "
        "range of the best share over bootstrap replicates of the seeds; the `mse_ratio_*` "
        "columns compare the smallest and largest share tried with the best one.\n\n"
        + markdown_table(best_rows)
    )
    headline = {f"{r['generator']}@N={r['budget']}": r for r in best_rows}
    return Section(
        "Experiment 4: MSE against the stage-1 share at fixed N",
        markdown,
        headline,
        ["stage1_share.csv", "stage1_share_best.csv", "stage1_share.png"],
    )


def best_share_row(
    generator: str, budget: int, shares: np.ndarray, summary: MseSummary
) -> dict[str, Any]:
    """Where the MSE is smallest, how sure that is, and how much worse the ends are."""
    best = int(np.argmin(summary.mse))
    argmins = shares[np.argmin(summary.replicates, axis=1)]
    low, high = np.percentile(argmins, [2.5, 97.5])
    return {
        "generator": generator,
        "budget": budget,
        "best_share": float(shares[best]),
        "argmin_share_range": f"{low:g}–{high:g}",
        "best_mse": float(summary.mse[best]),
        "mse_ratio_smallest_share": float(summary.mse[0] / summary.mse[best]),
        "mse_ratio_largest_share": float(summary.mse[-1] / summary.mse[best]),
        "smallest_share": float(shares[0]),
        "largest_share": float(shares[-1]),
    }


def plot_share(
    context: ExperimentContext,
    shares: np.ndarray,
    curves: list[tuple[str, int, MseSummary, np.ndarray]],
) -> None:
    """N·MSE against the stage-1 share, one panel per generator, a line per budget."""
    generators = list(dict.fromkeys(c[0] for c in curves))
    figure, axes = plt.subplots(
        1, len(generators), figsize=(5.6 * len(generators), 4.6), squeeze=False
    )
    for axis, generator in zip(axes[0], generators, strict=True):
        mine = [c for c in curves if c[0] == generator]
        colours = plt.get_cmap("tab10")(np.arange(len(mine)))
        for colour, (_, budget, summary, predicted) in zip(colours, mine, strict=True):
            axis.plot(shares, budget * summary.mse, "o-", color=colour, label=f"N={budget}")
            axis.fill_between(shares, budget * summary.low, budget * summary.high,
                              color=colour, alpha=0.2)  # fmt: skip
            axis.plot(shares, budget * predicted, ":", color=colour, lw=1.2,
                      label=f"N={budget}, first order")  # fmt: skip
        axis.set(
            yscale="log",
            xlabel="stage-1 share C = K·N1/N",
            ylabel="N·MSE of AVG (95% CI band)",
            title=f"{generator}: error against the stage-1 share",
        )
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(context.out_dir / "stage1_share.png", dpi=110)
    plt.close(figure)
