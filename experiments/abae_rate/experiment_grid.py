"""Experiment 1: MSE over an (N1, N2) grid, fitted to a/N1 + b/N2 + c·N1^½·N2^−³ᐟ²."""

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
from rate_fit import RATE_TERMS, PredictionQuality, bootstrap_coefficients, fit_rate
from result_tables import markdown_table, write_csv

from abae.sampling import equal_stratum_sizes, stage1_sizes

MODELS: dict[str, tuple[int, ...]] = {
    "full: a/N1 + b/N2 + c·N1^½N2^-3/2": (0, 1, 2),
    "a/N1 + b/N2": (0, 1),
    "b/N2 + c·N1^½N2^-3/2": (1, 2),
    "b/N2 only": (1,),
}
"""Full and reduced models fitted side by side (name to term indices)."""

FIRST_ORDER = "first order, exact pilot (no free parameter)"
"""The row comparing the measured MSEs with :func:`linearised_mse` at ABae's limit allocation."""


def grid_points(context: ExperimentContext, generator: str) -> list[DesignPoint]:
    """One design point per (N1, N2): ``N = K·N1 + N2``, ``stage1_share = K·N1/N``.

    Raises:
        RuntimeError: ``abae``'s stage-1 rule would not give exactly ``N1`` per stratum.
    """
    sizes = equal_stratum_sizes(context.scale.records, STRATA)
    points = []
    for n1 in context.scale.grid_n1:
        for n2 in context.scale.grid_n2:
            budget = STRATA * n1 + n2
            share = STRATA * n1 / budget
            realised = stage1_sizes(budget, share, sizes)
            if not (realised == n1).all():
                raise RuntimeError(
                    f"stage1_share={share!r} at budget {budget} gives {realised.tolist()} "
                    f"stage-1 labels per stratum, not {n1}"
                )
            points.append(DesignPoint(context.population(generator), budget, share))
    return points


def run_grid(context: ExperimentContext) -> Section:
    """Run experiment 1 for every grid generator; write tables and the plot."""
    scale = context.scale
    n1 = np.repeat(np.array(scale.grid_n1, dtype=np.float64), len(scale.grid_n2))
    n2 = np.tile(np.array(scale.grid_n2, dtype=np.float64), len(scale.grid_n1))
    point_rows: list[dict[str, Any]] = []
    fit_rows: list[dict[str, Any]] = []
    panels = []
    headline: dict[str, Any] = {}
    for index, generator in enumerate(scale.grid_generators):
        points = grid_points(context, generator)
        summary = summarise(context.runner.errors(points), scale.bootstrap, 100 + index)
        moments = stratum_moments(cached_population(points[0].population), STRATA)
        full = fit_rate(n1, n2, summary.mse)
        first_order = np.array(
            [
                linearised_mse(
                    moments, asymptotic_labels(moments, p.budget, p.stage1_share, "abae")
                )
                for p in points
            ]
        )
        first_order_quality = PredictionQuality.of(summary.mse, first_order)
        draws = bootstrap_coefficients(n1, n2, summary.replicates)
        low, high = np.percentile(draws, [2.5, 97.5], axis=0)
        relative_se = summary.replicates.std(axis=0, ddof=1) / summary.mse
        for i, point in enumerate(points):
            point_rows.append(
                {
                    "generator": generator,
                    "n1_per_stratum": int(n1[i]),
                    "n2": int(n2[i]),
                    "budget": point.budget,
                    "stage1_share": round(point.stage1_share, 6),
                    "seeds": scale.seeds,
                    "mse": float(summary.mse[i]),
                    "mse_low": float(summary.low[i]),
                    "mse_high": float(summary.high[i]),
                    "bias": float(summary.bias[i]),
                    "bias_se": float(summary.bias_se[i]),
                    "undefined_runs": int(summary.undefined[i]),
                    "fitted_mse": float(full.fitted[i]),
                    "first_order_mse": float(first_order[i]),
                    "relative_residual": float(full.relative_residuals[i]),
                }
            )
        for name, terms in MODELS.items():
            fit = full if terms == (0, 1, 2) else fit_rate(n1, n2, summary.mse, terms)
            row: dict[str, Any] = {"generator": generator, "model": name}
            for t, term in enumerate("abc"):
                row[term] = float(fit.coefficients[t]) if t in terms else float("nan")
                row[f"{term}_low"] = float(low[t]) if terms == (0, 1, 2) else float("nan")
                row[f"{term}_high"] = float(high[t]) if terms == (0, 1, 2) else float("nan")
            row |= {
                "r2": fit.r2,
                "r2_log": fit.r2_log,
                "rms_rel_residual": fit.rms_relative_residual,
                "max_rel_residual": fit.max_relative_residual,
                "rms_rel_se_of_mse": float(np.sqrt(np.mean(relative_se**2))),
                "oracle_constant": moments.allocation_constant,
                "neyman_constant": moments.neyman_constant,
            }
            fit_rows.append(row)
        fit_rows.append(
            {"generator": generator, "model": FIRST_ORDER}
            | {f"{t}{end}": float("nan") for t in "abc" for end in ("", "_low", "_high")}
            | {
                "r2": first_order_quality.r2,
                "r2_log": first_order_quality.r2_log,
                "rms_rel_residual": first_order_quality.rms_relative_residual,
                "max_rel_residual": first_order_quality.max_relative_residual,
                "rms_rel_se_of_mse": float(np.sqrt(np.mean(relative_se**2))),
                "oracle_constant": moments.allocation_constant,
                "neyman_constant": moments.neyman_constant,
            }
        )
        headline[generator] = {
            "a": [float(full.coefficients[0]), float(low[0]), float(high[0])],
            "b": [float(full.coefficients[1]), float(low[1]), float(high[1])],
            "c": [float(full.coefficients[2]), float(low[2]), float(high[2])],
            "r2": full.r2,
            "r2_log": full.r2_log,
            "rms_rel_residual": full.rms_relative_residual,
            "max_rel_residual": full.max_relative_residual,
            "first_order_rms_rel_residual": first_order_quality.rms_relative_residual,
            "rms_rel_se_of_mse": float(np.sqrt(np.mean(relative_se**2))),
            "oracle_constant": moments.allocation_constant,
        }
        panels.append((generator, summary, full, first_order))
    write_csv(point_rows, context.out_dir / "rate_grid.csv")
    write_csv(fit_rows, context.out_dir / "rate_fit.csv")
    plot_grid(context, n1, n2, panels)
    columns = [
        "generator", "model", "a", "a_low", "a_high", "b", "b_low", "b_high",
        "c", "c_low", "c_high", "r2", "r2_log", "rms_rel_residual", "max_rel_residual",
        "rms_rel_se_of_mse",
    ]  # fmt: skip
    markdown = (
        f"Terms: {', '.join(RATE_TERMS)}. Fit: non-negative least squares on relative "
        "residuals; 95% intervals (full model) from a bootstrap over seeds. "
        "`rms_rel_se_of_mse` is the measurement noise of the MSEs themselves.\n\n"
        + markdown_table(fit_rows, columns)
        + "\nOracle-allocation constant of each population (for comparison with b): "
        + ", ".join(f"{g}: {h['oracle_constant']:.4g}" for g, h in headline.items())
        + "\n"
    )
    return Section(
        "Experiment 1: MSE over (N1, N2) and the rate fit",
        markdown,
        headline,
        ["rate_grid.csv", "rate_fit.csv", "rate_fit.png"],
    )


def plot_grid(
    context: ExperimentContext,
    n1: np.ndarray,
    n2: np.ndarray,
    panels: list[tuple[str, Any, Any, np.ndarray]],
) -> None:
    """Fitted against measured MSE, and MSE against N2 per N1 with the fitted curves."""
    figure, axes = plt.subplots(len(panels), 2, figsize=(11, 4.4 * len(panels)), squeeze=False)
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(context.scale.grid_n1)))
    for row, (generator, summary, fit, first_order) in enumerate(panels):
        left, right = axes[row]
        errors = np.vstack([summary.mse - summary.low, summary.high - summary.mse])
        left.errorbar(summary.mse, fit.fitted, xerr=errors, fmt="o", ms=4, alpha=0.8,
                      label="NNLS fit of the rate")  # fmt: skip
        left.plot(summary.mse, first_order, "x", color="grey", ms=5,
                  label="first order, exact pilot")  # fmt: skip
        values = np.concatenate([summary.mse, fit.fitted, first_order])
        span = [values.min(), values.max()]
        left.plot(span, span, "k--", lw=1, label="fitted = measured")
        left.set(
            xscale="log",
            yscale="log",
            xlabel="measured MSE (95% bootstrap CI)",
            ylabel="fitted / predicted MSE",
            title=f"{generator}: fit R²={fit.r2:.3f}, log-R²={fit.r2_log:.3f}",
        )
        left.legend(loc="upper left")
        dense = np.geomspace(n2.min(), n2.max(), 50)
        a, b, c = fit.coefficients
        for colour, value in zip(colours, context.scale.grid_n1, strict=True):
            mask = n1 == value
            right.errorbar(
                n2[mask], summary.mse[mask], yerr=errors[:, mask], fmt="o", color=colour, ms=4,
                label=f"N1={value}/stratum",
            )  # fmt: skip
            right.plot(dense, a / value + b / dense + c * np.sqrt(value) * dense**-1.5, "--",
                       color=colour, lw=1)  # fmt: skip
        right.set(
            xscale="log",
            yscale="log",
            xlabel="N2 (stage-2 labels)",
            ylabel="MSE of AVG",
            title=f"{generator}: measured (dots) and fit (dashed)",
        )
        right.set_xticks(context.scale.grid_n2, [str(v) for v in context.scale.grid_n2])
        right.minorticks_off()
        right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(context.out_dir / "rate_fit.png", dpi=110)
    plt.close(figure)
