"""Experiment 3: N·MSE against the oracle-allocation constant (Σ√p_kσ_k)²/(Σp_k)²."""

from __future__ import annotations

import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from experiment_context import STRATA, ExperimentContext, Section
from linearised_mse import asymptotic_labels, linearised_mse, stratum_moments, uniform_mse
from mse_runs import DesignPoint, summarise
from populations import cached_population
from result_tables import markdown_table, write_csv


def run_constant(context: ExperimentContext) -> Section:
    """Run experiment 3 over the scale's populations and series; write tables and the plot."""
    scale = context.scale
    budget = scale.constant_budget
    specs = [context.population(g, noise) for g, noise in scale.constant_populations]
    points = [
        DesignPoint(spec, budget, share, allocation)
        for spec in specs
        for allocation, share in scale.constant_series
    ]
    summary = summarise(context.runner.errors(points), scale.bootstrap, 300)
    rows: list[dict[str, Any]] = []
    for i, point in enumerate(points):
        moments = stratum_moments(cached_population(point.population), STRATA)
        labels = asymptotic_labels(moments, budget, point.stage1_share, point.allocation)
        constant = moments.allocation_constant
        measured = budget * float(summary.mse[i])
        rows.append(
            {
                "population": point.population.label,
                "proxy_noise": point.population.proxy_noise,
                "allocation": point.allocation,
                "stage1_share": point.stage1_share,
                "budget": budget,
                "seeds": scale.seeds,
                "oracle_constant": constant,
                "neyman_constant": moments.neyman_constant,
                "n_mse": measured,
                "n_mse_low": budget * float(summary.low[i]),
                "n_mse_high": budget * float(summary.high[i]),
                "linearised_n_mse": budget * linearised_mse(moments, labels),
                "uniform_n_mse": budget * uniform_mse(moments, budget),
                "ratio_to_constant": measured / constant,
                "ratio_to_linearised": measured / (budget * linearised_mse(moments, labels)),
                "undefined_runs": int(summary.undefined[i]),
            }
        )
    write_csv(rows, context.out_dir / "oracle_constant.csv")
    correlations = constant_correlations(rows, scale.constant_series)
    plot_constant(context, rows)
    columns = [
        "population", "allocation", "stage1_share", "oracle_constant", "neyman_constant",
        "n_mse", "n_mse_low", "n_mse_high", "linearised_n_mse", "uniform_n_mse",
        "ratio_to_constant", "ratio_to_linearised",
    ]  # fmt: skip
    markdown = (
        f"Budget N = {budget}, {scale.seeds} seeds per row; intervals: 95% bootstrap over "
        "seeds. `neyman_constant` = (Σ S_k)²/(Σ p_k)² with S_k² = p_kσ_k² + "
        "p_k(1−p_k)(m_k−μ)², the best N·MSE for the ratio estimator; `linearised_n_mse` is the "
        "first-order N·MSE at the allocation ABae tends to (exact pilot); `uniform_n_mse` "
        "is the same for uniform sampling.\n\n"
        + markdown_table(rows, columns)
        + "\nCorrelation of log N·MSE with log constant, per series: "
        + ", ".join(f"{name}: {value:.3f}" for name, value in correlations.items())
        + "\n"
    )
    headline = {
        "correlation_log": correlations,
        "ratio_to_constant": {
            f"{r['population']}|{r['allocation']}@{r['stage1_share']}": r["ratio_to_constant"]
            for r in rows
        },
    }
    return Section(
        "Experiment 3: N·MSE against the oracle-allocation constant",
        markdown,
        headline,
        ["oracle_constant.csv", "oracle_constant.png"],
    )


def series_name(allocation: str, share: float) -> str:
    """``"abae, C=0.5"``."""
    return f"{allocation}, C={share:g}"


def constant_correlations(
    rows: list[dict[str, Any]], series: tuple[tuple[str, float], ...]
) -> dict[str, float]:
    """Pearson correlation of log N·MSE with log constant within each series."""
    out = {}
    for allocation, share in series:
        chosen = [r for r in rows if r["allocation"] == allocation and r["stage1_share"] == share]
        x = np.log([r["oracle_constant"] for r in chosen])
        y = np.log([r["n_mse"] for r in chosen])
        out[series_name(allocation, share)] = (
            float(np.corrcoef(x, y)[0, 1]) if len(chosen) > 2 else math.nan
        )
    return out


def plot_constant(context: ExperimentContext, rows: list[dict[str, Any]]) -> None:
    """Measured N·MSE against the constant (log–log), one marker per series, y = x."""
    figure, axis = plt.subplots(figsize=(7.5, 6))
    markers = "osD^v"
    series = list(dict.fromkeys((r["allocation"], r["stage1_share"]) for r in rows))
    for marker, (allocation, share) in zip(markers, series, strict=False):
        chosen = [r for r in rows if (r["allocation"], r["stage1_share"]) == (allocation, share)]
        x = np.array([r["oracle_constant"] for r in chosen])
        y = np.array([r["n_mse"] for r in chosen])
        errors = np.array([[r["n_mse"] - r["n_mse_low"], r["n_mse_high"] - r["n_mse"]]
                           for r in chosen]).T  # fmt: skip
        axis.errorbar(x, y, yerr=errors, fmt=marker, ms=6, alpha=0.85,
                      label=series_name(allocation, share))  # fmt: skip
    first = [r for r in rows if (r["allocation"], r["stage1_share"]) == series[0]]
    for r in first:
        axis.annotate(r["population"], (r["oracle_constant"], r["n_mse"]), fontsize=7,
                      xytext=(4, -10), textcoords="offset points")  # fmt: skip
    values = [r["oracle_constant"] for r in rows] + [r["n_mse"] for r in rows]
    span = [min(values) / 1.3, max(values) * 1.3]
    axis.plot(span, span, "k--", lw=1, label="N·MSE = constant")
    axis.set(
        xscale="log",
        yscale="log",
        xlabel="oracle-allocation constant (Σ√p_kσ_k)²/(Σp_k)²",
        ylabel=f"N·MSE at N={rows[0]['budget']} (95% CI)",
        title="N·MSE against the oracle-allocation constant",
    )
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(context.out_dir / "oracle_constant.png", dpi=110)
    plt.close(figure)
