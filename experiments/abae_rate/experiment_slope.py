"""Experiment 2: the log–log slope of MSE against N with constant stage shares."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from experiment_context import STRATA, ExperimentContext, Section
from linearised_mse import asymptotic_labels, linearised_mse, stratum_moments
from mse_runs import DesignPoint, summarise
from populations import cached_population
from rate_fit import loglog_slopes
from result_tables import markdown_table, write_csv


def run_slope(context: ExperimentContext) -> Section:
    """Run experiment 2 for every slope generator and share; write tables and the plot."""
    scale = context.scale
    budgets = np.array(scale.slope_budgets, dtype=np.float64)
    point_rows: list[dict[str, Any]] = []
    slope_rows: list[dict[str, Any]] = []
    curves: dict[str, list[tuple[float, Any, np.ndarray]]] = {}
    for index, generator in enumerate(scale.slope_generators):
        spec = context.population(generator)
        moments = stratum_moments(cached_population(spec), STRATA)
        points = [
            DesignPoint(spec, int(budget), share)
            for share in scale.slope_shares
            for budget in scale.slope_budgets
        ]
        errors = context.runner.errors(points)
        curves[generator] = []
        for s, share in enumerate(scale.slope_shares):
            rows = slice(s * budgets.size, (s + 1) * budgets.size)
            summary = summarise(errors[rows], scale.bootstrap, 200 + 10 * index + s)
            slope = float(loglog_slopes(budgets, summary.mse))
            low, high = np.percentile(loglog_slopes(budgets, summary.replicates), [2.5, 97.5])
            predicted = np.array(
                [
                    linearised_mse(moments, asymptotic_labels(moments, int(n), share, "abae"))
                    for n in budgets
                ]
            )
            for i, budget in enumerate(budgets):
                point_rows.append(
                    {
                        "generator": generator,
                        "stage1_share": share,
                        "budget": int(budget),
                        "seeds": scale.seeds,
                        "mse": float(summary.mse[i]),
                        "mse_low": float(summary.low[i]),
                        "mse_high": float(summary.high[i]),
                        "n_times_mse": float(budget * summary.mse[i]),
                        "linearised_n_times_mse": float(budget * predicted[i]),
                        "bias": float(summary.bias[i]),
                        "bias_se": float(summary.bias_se[i]),
                        "undefined_runs": int(summary.undefined[i]),
                    }
                )
            slope_rows.append(
                {
                    "generator": generator,
                    "stage1_share": share,
                    "slope": slope,
                    "slope_low": float(low),
                    "slope_high": float(high),
                    "linearised_slope": float(loglog_slopes(budgets, predicted)),
                    "n_mse_smallest_n": float(budgets[0] * summary.mse[0]),
                    "n_mse_largest_n": float(budgets[-1] * summary.mse[-1]),
                    "linearised_n_mse_largest_n": float(budgets[-1] * predicted[-1]),
                }
            )
            curves[generator].append((share, summary, predicted))
    write_csv(point_rows, context.out_dir / "rate_slope_points.csv")
    write_csv(slope_rows, context.out_dir / "rate_slope.csv")
    plot_slope(context, budgets, curves)
    n_range = f"N = {scale.slope_budgets[0]} … {scale.slope_budgets[-1]}"
    markdown = (
        f"Least-squares slope of log MSE on log N over {n_range}; 95% interval from a "
        "bootstrap over seeds (the same seeds resampled at every N). `linearised_slope` "
        "is the slope of the first-order prediction over the same N (it is a little "
        "steeper than −1 only through the finite-population correction).\n\n"
        + markdown_table(slope_rows)
    )
    headline = {
        f"{r['generator']}@{r['stage1_share']}": [r["slope"], r["slope_low"], r["slope_high"]]
        for r in slope_rows
    }
    return Section(
        "Experiment 2: log–log slope of MSE against N at constant stage shares",
        markdown,
        headline,
        ["rate_slope_points.csv", "rate_slope.csv", "rate_slope.png"],
    )


def plot_slope(
    context: ExperimentContext,
    budgets: np.ndarray,
    curves: dict[str, list[tuple[float, Any, np.ndarray]]],
) -> None:
    """MSE against N per share with bootstrap bands, first-order predictions dashed."""
    figure, axes = plt.subplots(1, len(curves), figsize=(5.6 * len(curves), 4.6), squeeze=False)
    for axis, (generator, series) in zip(axes[0], curves.items(), strict=True):
        colours = plt.get_cmap("plasma")(np.linspace(0.0, 0.8, len(series)))
        for colour, (share, summary, predicted) in zip(colours, series, strict=True):
            slope = float(loglog_slopes(budgets, summary.mse))
            axis.plot(budgets, summary.mse, "o-", color=colour,
                      label=f"C={share:g}: slope {slope:.2f}")  # fmt: skip
            axis.fill_between(budgets, summary.low, summary.high, color=colour, alpha=0.2)
            axis.plot(budgets, predicted, ":", color=colour, lw=1)
        reference = series[0][1].mse[0] * budgets[0] / budgets
        axis.plot(budgets, reference, "k--", lw=1, label="∝ 1/N")
        axis.set(
            xscale="log",
            yscale="log",
            xlabel="budget N (oracle calls)",
            ylabel="MSE of AVG",
            title=f"{generator}: MSE vs N (bands: 95% CI; dotted: first order)",
        )
        axis.set_xticks(budgets, [f"{int(b)}" for b in budgets])
        axis.minorticks_off()
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(context.out_dir / "rate_slope.png", dpi=110)
    plt.close(figure)
