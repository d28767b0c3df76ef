"""Experiment 3: the segmentation model at high resolution, up to 1024×1024 (65,536 tokens).

Forward (inference) time and peak memory of a SegFormer-B0-sized model
(``high_resolution_model.py``) with AFNO, GFN and self-attention mixers, batch 1.

- Time: measured in this process, alternately: each round runs every
  (case, size) once, rounds repeat, the median is reported (load on the shared
  CPU hits all cases alike). One untimed warm-up round first.
- Peak memory: each (case, size) in a fresh subprocess (``peak_memory.py``):
  peak RSS after one forward pass minus the peak RSS before it
  (``resource.getrusage``), so no other case's allocations count.
- Self-attention is measured where it fits in reasonable time and memory and
  extrapolated elsewhere by a non-negative quadratic fit ``a + b·N + c·N²`` in
  the stride-4 token count N (``scaling_fit.py``), fitted on the sizes up to
  640×640; the table marks every number ``measured`` or ``extrapolated``. Two
  attention kernels: PyTorch's default (a fused CPU flash kernel that never
  holds the N × N matrix; it fits, so it is measured up to 1024×1024 and the
  larger sizes check the fit) and ``attention-math``
  (the plain kernel that does).

Usage (from the repository root)::

    OMP_NUM_THREADS=2 .venv/bin/python experiments/afno/high_resolution.py          # full
    OMP_NUM_THREADS=2 .venv/bin/python experiments/afno/high_resolution.py --quick  # seconds

Outputs in ``experiments/afno/results/high_resolution/`` (``--quick``:
``.../quick/high_resolution``): ``high_resolution.csv``, ``high_resolution.md``,
``high_resolution_fits.csv``, ``high_resolution.png`` and ``run_info.json``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
import torch
from experiment_cli import parse_experiment_args, results_folder
from high_resolution_model import (
    CASES,
    MIXER_KWARGS,
    build_model,
    input_batch,
    stride4_tokens,
    timed_forward,
)
from result_tables import command_line, markdown_table, write_csv, write_run_info
from scaling_fit import QuadraticFit, fit_quadratic

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

HERE = Path(__file__).resolve().parent
QUADRATIC_CASES = ("attention", "attention-math")
MEMORY_FLOOR_MIB = 1.0
"""Memory growths below this (tiny inputs, whose buffers fit in memory the process
already held) count as this much in the fits, which need positive values."""


@dataclass(frozen=True)
class ResolutionScale:
    """Input sizes per kind of case, and timing rounds."""

    fourier_sizes: tuple[int, ...]
    attention_sizes: tuple[int, ...]
    math_sizes: tuple[int, ...]
    fit_max_size: int
    """Attention fits use measured sizes up to this; larger measured sizes check them."""
    rounds: int
    probe_workers: int = 1
    """Memory probes run at once (each in its own process; timing is not taken there)."""


FULL = ResolutionScale(
    fourier_sizes=(256, 512, 768, 1024),
    attention_sizes=(256, 384, 512, 640, 768, 1024),
    math_sizes=(192, 256, 320, 384),
    fit_max_size=640,
    rounds=3,
)
QUICK = ResolutionScale(
    fourier_sizes=(96,),
    attention_sizes=(32, 48, 64, 96),
    math_sizes=(32, 48, 64),
    fit_max_size=64,
    rounds=1,
    probe_workers=4,
)


def measured_cases(scale: ResolutionScale) -> list[tuple[str, int]]:
    """Every (case, size) that is measured rather than extrapolated."""
    sizes = {
        "afno": scale.fourier_sizes,
        "gfn": scale.fourier_sizes,
        "attention": scale.attention_sizes,
        "attention-math": scale.math_sizes,
    }
    return [(case, size) for case in CASES for size in sizes[case]]


def probe_all(
    cases: list[tuple[str, int]], threads: int, workers: int
) -> dict[tuple[str, int], float]:
    """:func:`probe_memory` for every case, ``workers`` subprocesses at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        growth = pool.map(lambda key: probe_memory(key[0], key[1], threads), cases)
        return dict(zip(cases, growth, strict=True))


def alternating_times(cases: list[tuple[str, int]], rounds: int) -> dict[tuple[str, int], float]:
    """Median forward seconds per case over ``rounds`` round-robin passes (after one warm-up)."""
    models = {(case, size): build_model(CASES[case][0], size) for case, size in cases}
    inputs = {size: input_batch(size) for _, size in cases}
    seconds: dict[tuple[str, int], list[float]] = {key: [] for key in cases}
    for round_index in range(rounds + 1):
        for case, size in cases:
            elapsed = timed_forward(models[case, size], inputs[size], CASES[case][1])
            if round_index > 0:
                seconds[case, size].append(elapsed)
        print(f"timing round {round_index}/{rounds} done", flush=True)
    return {key: statistics.median(values) for key, values in seconds.items()}


def probe_memory(case: str, size: int, threads: int) -> float:
    """Peak-RSS growth (MiB) of one forward pass, in a fresh subprocess."""
    completed = subprocess.run(
        [
            sys.executable,
            str(HERE / "peak_memory.py"),
            "--case",
            case,
            "--size",
            str(size),
            "--threads",
            str(threads),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    record = json.loads(completed.stdout.strip().splitlines()[-1])
    return float(record["growth_mib"])


def table_rows(
    scale: ResolutionScale,
    times: dict[tuple[str, int], float],
    memory: dict[tuple[str, int], float],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Measured rows for every case, extrapolated rows for attention; and the fits.

    Each attention case is fitted on its measured sizes up to ``scale.fit_max_size``
    and extrapolated to every size of ``scale.fourier_sizes`` it was not measured
    at; measured sizes above ``fit_max_size`` check the extrapolation.
    """
    rows: list[dict[str, Any]] = []
    fits: list[dict[str, Any]] = []
    for case in CASES:
        measured = sorted(size for c, size in times if c == case)
        if not measured:
            continue
        for size in measured:
            rows.append(_row(case, size, times[case, size], memory[case, size], "measured"))
        if case not in QUADRATIC_CASES:
            continue
        fitted = [size for size in measured if size <= scale.fit_max_size]
        tokens = [stride4_tokens(size) for size in fitted]
        time_fit = fit_quadratic(tokens, [times[case, s] for s in fitted])
        floored = {key: max(value, MEMORY_FLOOR_MIB) for key, value in memory.items()}
        memory_fit = fit_quadratic(tokens, [floored[case, s] for s in fitted])
        checks = [size for size in measured if size > scale.fit_max_size]
        for quantity, fit, values in (
            ("forward_seconds", time_fit, times),
            ("peak_growth_mib", memory_fit, floored),
        ):
            check = "; ".join(
                f"{size}: {fit(stride4_tokens(size)) / values[case, size]:.2f}" for size in checks
            )
            fits.append(_fit_row(case, quantity, fitted, fit, check or "none"))
        for size in scale.fourier_sizes:
            if size not in measured:
                tokens_at = stride4_tokens(size)
                rows.append(
                    _row(case, size, time_fit(tokens_at), memory_fit(tokens_at), "extrapolated")
                )
    return rows, fits


def _row(case: str, size: int, seconds: float, growth: float, source: str) -> dict[str, Any]:
    return {
        "case": case,
        "input": f"{size}x{size}",
        "size": size,
        "stride4_tokens": stride4_tokens(size),
        "forward_seconds": round(seconds, 3),
        "peak_growth_mib": round(growth, 1),
        "source": source,
    }


def _fit_row(
    case: str, quantity: str, sizes: list[int], fit: QuadraticFit, check: str
) -> dict[str, Any]:
    return {
        "case": case,
        "quantity": quantity,
        "fitted_on": " ".join(str(size) for size in sizes),
        "constant": f"{fit.constant:.4g}",
        "per_token": f"{fit.linear:.4g}",
        "per_token_squared": f"{fit.quadratic:.4g}",
        "max_relative_error_on_fitted": round(fit.max_relative_error, 3),
        "fit_over_measured_above_fit_range": check,
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Forward time and peak-memory growth against stride-4 tokens, log–log."""
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, quantity, label in (
        (axes[0], "forward_seconds", "forward time (s), batch 1"),
        (axes[1], "peak_growth_mib", "peak RSS growth (MiB)"),
    ):
        for index, case in enumerate(CASES):
            colour = f"C{index}"
            for source, style in (("measured", "o-"), ("extrapolated", "x--")):
                points = [r for r in rows if r["case"] == case and r["source"] == source]
                if source == "extrapolated" and points:
                    last = [r for r in rows if r["case"] == case and r["source"] == "measured"][-1]
                    points = [last, *points]
                if points:
                    axis.plot(
                        [r["stride4_tokens"] for r in points],
                        [r[quantity] for r in points],
                        style,
                        color=colour,
                        label=f"{case} ({source})",
                    )
        axis.axvline(65_536, color="grey", linestyle=":", linewidth=1)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("stride-4 tokens (1024×1024 input = 65,536)")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    figure.suptitle("SegFormer-B0-sized model, one image, CPU")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run experiment 3 and write its tables and plot; returns 0."""
    arguments = sys.argv[1:] if argv is None else argv
    args = parse_experiment_args(__doc__.split("\n\n")[0], arguments)
    scale = QUICK if args.quick else FULL
    name = "high_resolution"
    out_dir = results_folder(args, name)
    started = time.perf_counter()
    cases = measured_cases(scale)
    memory = probe_all(cases, args.threads, scale.probe_workers)
    print("memory probes done", flush=True)
    times = alternating_times(cases, scale.rounds)
    rows, fits = table_rows(scale, times, memory)
    write_csv(out_dir / f"{name}.csv", rows)
    write_csv(out_dir / f"{name}_fits.csv", fits)
    command = command_line(f"{name}.py", arguments)
    shown = [{k: v for k, v in row.items() if k != "size"} for row in rows]
    (out_dir / f"{name}.md").write_text(
        f"Made by `{command}`: batch 1, inference, {torch.get_num_threads()} threads, "
        f"median of {scale.rounds} alternating rounds; memory = peak-RSS growth of one forward "
        "pass in a fresh process. `extrapolated` rows come from the quadratic fits below, "
        "not from a run.\n\n" + markdown_table(shown) + "\nFits (cost = constant + per_token·N "
        "+ per_token_squared·N², N = stride-4 tokens):\n\n" + markdown_table(fits)
    )
    plot(rows, out_dir / f"{name}.png")
    seconds = round(time.perf_counter() - started, 1)
    write_run_info(
        out_dir,
        command,
        "quick" if args.quick else "full",
        {"scale": asdict(scale), "mixer_kwargs": MIXER_KWARGS, "cases": CASES, "seconds": seconds},
    )
    print(markdown_table(shown), f"\nwrote {out_dir} in {seconds} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
