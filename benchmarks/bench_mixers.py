"""Forward+backward time and peak memory of the token mixers on 2-D token grids.

Cases, each for B=1, C=256 channels-last tokens (B, n, n, C):

- ``fft_roundtrip``: ``irfft2(rfft2(x))`` over the grid axes of the same
  tensor (torch.fft, ``norm="ortho"``), the reference AFNO is compared with;
- ``afno_keep1.0`` / ``afno_keep0.25``: :class:`afno.AFNO` (8 blocks);
- ``attention``: :class:`afno.SelfAttention` (8 heads, SDPA) over the n*n tokens,
  skipped where one step is estimated (from the next smaller grid, time
  growing as tokens squared) to take over a minute;
- ``gfn``: :class:`afno.GlobalFilter`;
- ``segformer_fwd_1024``: ``afno.create_model("afno_segformer_b0", num_classes=19)``,
  forward only (no grad) on a (1, 3, 1024, 1024) image.

Method. Every case runs in a fresh Python subprocess with ``torch.set_num_threads``
(default 2) and glibc's malloc told to serve every block of 64 KiB or more
with mmap (``MALLOC_MMAP_THRESHOLD_``), so freed tensors leave the resident
set at once. The memory worker builds the module and the input, runs one
warm-up step (FFT plans, thread pools), then reads its resident set size
(VmRSS) as the baseline, resets the kernel's peak RSS counter
(``/proc/self/clear_refs``) and runs one step; *peak memory* is the peak RSS
(VmHWM) minus the baseline: every byte the step itself allocated at its
high-water mark, the gradient of the input included. *Time* comes from one
more subprocess per grid that runs the cases of that grid interleaved, round
by round (so a change of machine load hits all of them alike), and is the
median over at least 3 rounds (more while under about 2 s of work).
A step is forward, then backward with a fixed upstream gradient.

Usage::

    python benchmarks/bench_mixers.py            # all sizes, ~minutes
    python benchmarks/bench_mixers.py --quick    # 32x32 only (smoke test)

Writes ``benchmarks/results/bench_mixers.{csv,json}`` (or ``--out-dir``).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
GRID_SIZES = (32, 64, 128, 256)
QUICK_GRID_SIZES = (32,)
CHANNELS = 256
MIXER_CASES = ("fft_roundtrip", "afno_keep1.0", "afno_keep0.25", "attention", "gfn")
SEGFORMER_CASE = "segformer_fwd_1024"
ATTENTION_LIMIT_S = 60.0
TIMING_BUDGET_S = 2.0
WARMUP_STEPS = 3  # thread pools and FFT plans settle over the first few steps, not one


@dataclass
class Measurement:
    """One row of the table: a case on one grid."""

    case: str
    grid: str
    tokens: int
    time_s: float | None = None
    time_min_s: float | None = None
    peak_mib: float | None = None
    repeats: int = 0
    note: str = ""


# ---------------------------------------------------------------- worker side


def _resident_kib(field_name: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not found in /proc/self/status")


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def _build_step(case: str, size: int) -> Callable[[], None]:
    """Return a zero-argument callable running one step of ``case`` on an ``size``-grid."""
    import torch

    import afno

    generator = torch.Generator().manual_seed(0)
    if case == SEGFORMER_CASE:
        model = afno.create_model("afno_segformer_b0", num_classes=19).eval()
        image = torch.randn(1, 3, size, size, generator=generator)

        def forward_only() -> None:
            with torch.no_grad():
                model(image)

        return forward_only

    tokens = torch.randn(1, size, size, CHANNELS, generator=generator).requires_grad_()
    upstream = torch.randn(1, size, size, CHANNELS, generator=generator)
    module: Callable[[torch.Tensor], torch.Tensor]
    if case == "fft_roundtrip":

        def module(x: torch.Tensor) -> torch.Tensor:
            spectrum = torch.fft.rfft2(x, dim=(1, 2), norm="ortho")
            tokens_back: torch.Tensor = torch.fft.irfft2(
                spectrum, s=(size, size), dim=(1, 2), norm="ortho"
            )
            return tokens_back

    elif case.startswith("afno_keep"):
        module = afno.AFNO(CHANNELS, keep_fraction=float(case.removeprefix("afno_keep")))
    elif case == "attention":
        module = afno.SelfAttention(CHANNELS, num_heads=8)
    elif case == "gfn":
        module = afno.GlobalFilter(CHANNELS, grid_size=(size, size))
    else:
        raise ValueError(f"unknown case {case!r}")

    def step() -> None:
        tokens.grad = None
        module(tokens).backward(upstream)

    return step


def measure_peak_memory(case: str, size: int, threads: int) -> float:
    """Peak memory (MiB) of one step of ``case``, in this (fresh) process."""
    import torch

    torch.set_num_threads(threads)
    step = _build_step(case, size)
    step()  # warm-up: FFT plans, thread pools, lazy initialisation
    gc.collect()
    baseline = _resident_kib("VmRSS")
    _reset_peak_rss()
    step()
    return (_resident_kib("VmHWM") - baseline) / 1024


def measure_times(cases: Sequence[str], size: int, threads: int) -> dict[str, list[float]]:
    """Wall times (s) of steps of several cases, interleaved round by round.

    Interleaving makes the ratios between cases robust to load that drifts
    while the benchmark runs. At least 3 rounds, more while the rounds so far
    took less than the timing budget (at most 20).
    """
    import torch

    torch.set_num_threads(threads)
    steps = {case: _build_step(case, size) for case in cases}
    for step in steps.values():
        for _ in range(WARMUP_STEPS):
            step()
    times: dict[str, list[float]] = {case: [] for case in cases}
    spent = 0.0
    for round_index in range(20):
        if round_index >= 3 and spent > TIMING_BUDGET_S:
            break
        order = list(cases)[round_index % len(cases) :] + list(cases)[: round_index % len(cases)]
        for case in order:
            start = time.perf_counter()
            steps[case]()
            elapsed = time.perf_counter() - start
            times[case].append(elapsed)
            spent += elapsed
    return times


# ---------------------------------------------------------------- driver side


def _run_worker(arguments: list[str], threads: int) -> tuple[object, str]:
    """Run this script as a worker subprocess; return its JSON answer or an error line."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, __file__, *arguments, "--threads", str(threads)]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return None, f"failed: {tail[0]}"
    return json.loads(completed.stdout.strip().splitlines()[-1]), ""


def _measure_grid(cases: Sequence[str], size: int, threads: int) -> list[Measurement]:
    """Peak memory of each case (one subprocess each), then interleaved times (one subprocess)."""
    tokens = size * size if SEGFORMER_CASE not in cases else (size // 4) ** 2
    rows = [Measurement(case, f"{size}x{size}", tokens) for case in cases]
    for row in rows:
        peak, error = _run_worker(["--memory-worker", row.case, str(size)], threads)
        row.peak_mib = peak if isinstance(peak, float) else None
        row.note = error
    times, error = _run_worker(["--timing-worker", ",".join(cases), str(size)], threads)
    for row in rows:
        samples = times.get(row.case) if isinstance(times, dict) else None
        if samples:
            row.time_s, row.time_min_s = statistics.median(samples), min(samples)
            row.repeats = len(samples)
        else:
            row.note = row.note or error
    return rows


def _segformer_available() -> str:
    """Empty string if the segmentation model can be built, else why not."""
    try:
        import afno

        afno.create_model("afno_segformer_b0", num_classes=19)
    except Exception as error:  # any failure means "leave the row out, say why"
        return f"segmentation model unavailable: {type(error).__name__}: {error}"
    return ""


def run_all(grid_sizes: Sequence[int], threads: int, with_segformer: bool) -> list[Measurement]:
    """Run every case on every grid, each in its own subprocess."""
    rows: list[Measurement] = []
    attention_estimate: float | None = None
    for size in grid_sizes:
        cases = list(MIXER_CASES)
        if attention_estimate is not None and attention_estimate > ATTENTION_LIMIT_S:
            cases.remove("attention")
            note = (
                f"skipped: estimated {attention_estimate:.0f} s per step "
                f"(> {ATTENTION_LIMIT_S:.0f} s; tokens^2 scaling from the smaller grid)"
            )
            skipped = Measurement("attention", f"{size}x{size}", size * size, note=note)
        else:
            skipped = None
        measured = _measure_grid(cases, size, threads)
        for row in measured:
            print(_format_row(row), flush=True)
            if row.case == "attention" and row.time_s is not None:
                attention_estimate = row.time_s * 16.0  # the next grid has 4x the tokens
        if skipped is not None:
            attention_estimate = (attention_estimate or 0.0) * 16.0
            measured.insert(MIXER_CASES.index("attention"), skipped)
            print(_format_row(skipped), flush=True)
        rows.extend(measured)
    if with_segformer:
        reason = _segformer_available()
        if reason:
            rows.append(Measurement(SEGFORMER_CASE, "1024x1024", 256 * 256, note=reason))
        else:
            (row,) = _measure_grid([SEGFORMER_CASE], 1024, threads)
            row.note = row.note or "forward only, no grad; tokens = stride-4 stage"
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


def target_checks(rows: Sequence[Measurement]) -> list[dict[str, object]]:
    """The issue's targets, evaluated on whatever rows were measured."""

    def find(case: str, grid: str) -> Measurement | None:
        for row in rows:
            if row.case == case and row.grid == grid and row.time_s is not None:
                return row
        return None

    checks: list[dict[str, object]] = []

    def add(name: str, value: float | None, limit: float, at_most: bool) -> None:
        if value is None:
            return
        passed = value <= limit if at_most else value >= limit
        bound = f"<= {limit}" if at_most else f">= {limit}"
        checks.append({"target": name, "value": round(value, 3), "bound": bound, "met": passed})

    fft, full, quarter = (
        find(c, "256x256") for c in ("fft_roundtrip", "afno_keep1.0", "afno_keep0.25")
    )
    if fft and full and fft.time_s and full.time_s:
        add("256x256: AFNO time / FFT round trip", full.time_s / fft.time_s, 1.5, True)
        if fft.peak_mib and full.peak_mib is not None:
            add(
                "256x256: AFNO peak memory / FFT round trip",
                full.peak_mib / fft.peak_mib,
                1.3,
                True,
            )
    if full and quarter and full.time_s and quarter.time_s:
        add("256x256: AFNO keep 0.25 / keep 1.0 time", quarter.time_s / full.time_s, 0.6, True)
    afno_mid, attention_mid = find("afno_keep1.0", "128x128"), find("attention", "128x128")
    if afno_mid and attention_mid and afno_mid.time_s and attention_mid.time_s:
        add(
            "16,384 tokens: attention time / AFNO",
            attention_mid.time_s / afno_mid.time_s,
            20.0,
            False,
        )
    return checks


def _format_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _format_row(row: Measurement) -> str:
    peak = "-" if row.peak_mib is None else f"{row.peak_mib:.1f}"
    return (
        f"{row.case:<20} {row.grid:>10} {row.tokens:>8} {_format_time(row.time_s):>11} "
        f"{peak:>10}  {row.note}"
    )


def print_table(rows: Sequence[Measurement], checks: Sequence[dict[str, object]]) -> None:
    """Print the measurements and the target checks as plain-text tables."""
    print(f"{'case':<20} {'grid':>10} {'tokens':>8} {'time':>11} {'peak MiB':>10}  note")
    for row in rows:
        print(_format_row(row))
    if checks:
        print()
        for check in checks:
            status = "met" if check["met"] else "NOT met"
            print(f"{check['target']:<46} {check['value']:>8} (target {check['bound']}): {status}")


def write_results(
    rows: Sequence[Measurement], checks: Sequence[dict[str, object]], out_dir: Path, threads: int
) -> None:
    """Write ``bench_mixers.csv`` (one row per measurement) and ``bench_mixers.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["case", "grid", "tokens", "time_s", "time_min_s", "peak_mib", "repeats", "note"]
    with open(out_dir / "bench_mixers.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    import torch

    payload = {
        "config": {
            "batch": 1,
            "channels": CHANNELS,
            "threads": threads,
            "torch": torch.__version__,
        },
        "method": "peak memory: fresh subprocess per case, VmHWM - VmRSS baseline after a "
        "warm-up step; time: one subprocess per grid, cases interleaved, median of >= 3 steps",
        "rows": [asdict(row) for row in rows],
        "targets": list(checks),
    }
    (out_dir / "bench_mixers.json").write_text(json.dumps(payload, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smallest grid only, no segmentation row"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads per case (default 2)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="where to write results")
    parser.add_argument(
        "--memory-worker", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--timing-worker", nargs=2, metavar=("CASES", "SIZE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.memory_worker:
        case, size = args.memory_worker[0], int(args.memory_worker[1])
        print(json.dumps(measure_peak_memory(case, size, args.threads)))
        return 0
    if args.timing_worker:
        cases, size = args.timing_worker[0].split(","), int(args.timing_worker[1])
        print(json.dumps(measure_times(cases, size, args.threads)))
        return 0
    sizes = QUICK_GRID_SIZES if args.quick else GRID_SIZES
    rows = run_all(sizes, args.threads, with_segformer=not args.quick)
    checks = target_checks(rows)
    print()
    print_table(rows, checks)
    write_results(rows, checks, args.out_dir, args.threads)
    print(f"\nwrote {args.out_dir / 'bench_mixers.csv'} and {args.out_dir / 'bench_mixers.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
