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
median over at least ``--min-rounds`` rounds (default 3; more while under
about 2 s of work; raise it on a busy machine).
A step is forward, then backward with a fixed upstream gradient.

Deployment table. For the AFNO mixer (keep 1.0, C=256) on each grid, for
``afnonet_tiny`` (28x28 images, batch 64) and for ``afno_segformer_b0``
(256x256 image, batch 1), one subprocess each times, interleaved round by
round: eager mode, ``torch.compile`` (forward, and forward+backward), the
mixer compiled on its real-pair path (``spectral_path="traceable"``, the
alternative the fused custom operator was chosen over), the program from
``afno.export_program`` (``program.module()``, forward and forward+backward)
and the ONNX file from ``afno.export_onnx`` run by onnxruntime (forward,
same thread count), with the relative difference of the exported outputs to
eager mode (``max |a - b| / max |b|``). The first compiled call's time
(compilation, possibly helped by Inductor's on-disk cache) and the export
times are reported too.

Profile. ``--profile`` breaks one forward+backward step of the FFT round
trip and of AFNO (keep 1.0 and 0.25) on the largest grid down by kind of
ATen operation (torch.profiler self time): the FFTs, the spectral MLP, copies
and zero fills (layout changes, truncation slices, the FFT library's own
input copies), the residual add and the rest.

Usage::

    python benchmarks/bench_mixers.py            # all sizes and the deployment table, ~minutes
    python benchmarks/bench_mixers.py --profile  # ... and the profile breakdown
    python benchmarks/bench_mixers.py --grids 256 --skip-models --min-rounds 9   # one grid, more rounds
    python benchmarks/bench_mixers.py --quick    # 32x32 and the mixer's deployment row (no
                                                 # real-pair compile, static export): smoke test

Writes ``benchmarks/results/bench_mixers.{csv,json}`` and
``bench_mixers.deployment.csv`` (or ``--out-dir``).
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"
GRID_SIZES = (32, 64, 128, 256)
QUICK_GRID_SIZES = (32,)
CHANNELS = 256
MIXER_CASES = ("fft_roundtrip", "afno_keep1.0", "afno_keep0.25", "attention", "gfn")
SEGFORMER_CASE = "segformer_fwd_1024"
ATTENTION_LIMIT_S = 60.0
TIMING_BUDGET_S = 2.0
MIN_ROUNDS = 3
WARMUP_STEPS = 3  # thread pools and FFT plans settle over the first few steps, not one
DEPLOYMENT_MODELS = {
    "afnonet_tiny": (
        (64, 1, 28, 28),
        {"img_size": 28, "patch_size": 4, "in_chans": 1, "num_classes": 10},
    ),
    "afno_segformer_b0": ((1, 3, 256, 256), {"num_classes": 19, "img_size": 256}),
}
PROFILE_CASES = ("fft_roundtrip", "afno_keep1.0", "afno_keep0.25")
PROFILE_CATEGORIES = {
    "FFT": ("aten::_fft_r2c", "aten::_fft_c2r", "aten::_fft_c2c"),
    "spectral MLP": (
        "aten::bmm",
        "aten::baddbmm",
        "aten::mm",
        "aten::softshrink",
        "aten::softshrink_backward",
        "aten::threshold_backward",
        "aten::clamp_min_",
        "aten::sum",
        "aten::stack",
        "aten::index_select",
        "aten::sub",
    ),
    "copies, zero fills, scalings": (
        "aten::copy_",
        "aten::fill_",
        "aten::zero_",
        "aten::cat",
        "aten::clone",
        "aten::constant_pad_nd",
        "aten::div_",
        "aten::mul_",
        "aten::mul",
    ),
    "residual add": ("aten::add",),
}


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


@dataclass
class DeploymentRow:
    """One row of the deployment table: a mixer or model run eager, compiled, exported, in ONNX."""

    case: str
    input_shape: str
    eager_fwd_s: float | None = None
    eager_fwd_bwd_s: float | None = None
    compiled_fwd_s: float | None = None
    compiled_fwd_bwd_s: float | None = None
    compiled_real_pairs_fwd_bwd_s: float | None = None
    exported_fwd_s: float | None = None
    exported_fwd_bwd_s: float | None = None
    onnxruntime_fwd_s: float | None = None
    exported_relative_difference: float | None = None
    onnx_relative_difference: float | None = None
    first_compiled_call_s: float | None = None
    export_s: float | None = None
    onnx_export_s: float | None = None
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


def measure_times(
    cases: Sequence[str], size: int, threads: int, min_rounds: int = MIN_ROUNDS
) -> dict[str, list[float]]:
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
    return _interleaved_times(steps, min_rounds)


def _deployment_subject(case: str, size: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The module (eval mode), its input and a fixed upstream gradient for a deployment case."""
    import torch

    import afno

    generator = torch.Generator().manual_seed(0)
    module: torch.nn.Module
    if case == "afno_mixer":
        module = afno.AFNO(CHANNELS, generator=generator).eval()
        inputs = torch.randn(1, size, size, CHANNELS, generator=generator)
    else:
        shape, arguments = DEPLOYMENT_MODELS[case]
        module = afno.create_model(case, seed=0, **arguments).eval()
        inputs = torch.randn(shape, generator=generator)
    with torch.no_grad():
        upstream = torch.randn(module(inputs).shape, generator=generator)
    return module, inputs, upstream


def measure_deployment(
    case: str, size: int, threads: int, with_real_pairs: bool = True, min_rounds: int = MIN_ROUNDS
) -> dict[str, object]:
    """Eager, compiled, exported and ONNX runs of one case, timed interleaved (see the module doc).

    ``with_real_pairs=False`` (``--quick``) leaves out the compiled real-pair
    path and exports at fixed sizes, which halves the export time.
    """
    import tempfile

    import torch

    import afno

    torch.set_num_threads(threads)
    module, inputs, upstream = _deployment_subject(case, size)
    timings: dict[str, object] = {}

    def forward(function: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                function(inputs)

        return run

    def forward_backward(function: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        tokens = inputs.clone().requires_grad_()

        def run() -> None:
            module.zero_grad(set_to_none=True)
            tokens.grad = None
            function(tokens).backward(upstream)

        return run

    compiled = torch.compile(module)
    start = time.perf_counter()
    forward_backward(compiled)()
    timings["first_compiled_call_s"] = time.perf_counter() - start
    steps: dict[str, Callable[[], None]] = {
        "eager_fwd_s": forward(module),
        "eager_fwd_bwd_s": forward_backward(module),
        "compiled_fwd_s": forward(compiled),
        "compiled_fwd_bwd_s": forward_backward(compiled),
    }
    if case == "afno_mixer" and with_real_pairs:  # compiling it takes long: not in --quick
        real_pairs = afno.AFNO(CHANNELS, spectral_path="traceable").eval()
        real_pairs.load_state_dict(module.state_dict())
        steps["compiled_real_pairs_fwd_bwd_s"] = forward_backward(torch.compile(real_pairs))
    dynamic = with_real_pairs  # --quick exports at fixed sizes: half the export time
    start = time.perf_counter()
    program = afno.export_program(module, inputs, dynamic=dynamic)
    timings["export_s"] = time.perf_counter() - start
    exported = program.module()
    steps["exported_fwd_s"] = forward(exported)
    steps["exported_fwd_bwd_s"] = forward_backward(exported)
    with torch.no_grad():
        expected = module(inputs).numpy()
        timings["exported_relative_difference"] = afno.relative_difference(
            exported(inputs).numpy(), expected
        )
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = afno.export_onnx(module, inputs, Path(folder) / f"{case}.onnx", dynamic=dynamic)
        timings["onnx_export_s"] = time.perf_counter() - start
        session = afno.OnnxModel(path, threads=threads)
    array = inputs.numpy()
    timings["onnx_relative_difference"] = afno.relative_difference(session(array), expected)

    def onnxruntime_forward() -> None:
        session(array)

    steps["onnxruntime_fwd_s"] = onnxruntime_forward
    for step in steps.values():
        for _ in range(WARMUP_STEPS):
            step()
    samples = _interleaved_times(steps, min_rounds)
    for name, values in samples.items():
        timings[name] = statistics.median(values)
    timings["repeats"] = min(len(values) for values in samples.values())
    return timings


def _interleaved_times(
    steps: dict[str, Callable[[], None]], min_rounds: int = MIN_ROUNDS
) -> dict[str, list[float]]:
    """Wall times of each step, interleaved round by round (at least ``min_rounds``
    rounds, up to 20 while under the timing budget); the starting case rotates."""
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    spent = 0.0
    for round_index in range(max(20, min_rounds)):
        if round_index >= min_rounds and spent > TIMING_BUDGET_S:
            break
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            start = time.perf_counter()
            steps[name]()
            elapsed = time.perf_counter() - start
            times[name].append(elapsed)
            spent += elapsed
    return times


def profile_breakdown(case: str, size: int, threads: int) -> dict[str, float]:
    """Self time (s) per step of each kind of ATen operation in one step of ``case``."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(threads)
    step = _build_step(case, size)
    for _ in range(WARMUP_STEPS):
        step()
    repeats = 3
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(repeats):
            step()
    seconds = {category: 0.0 for category in (*PROFILE_CATEGORIES, "other")}
    for event in profiler.key_averages():
        if not event.key.startswith("aten::"):
            continue
        category = next(
            (name for name, ops in PROFILE_CATEGORIES.items() if event.key in ops), "other"
        )
        seconds[category] += event.self_cpu_time_total / 1e6 / repeats
    return seconds


# ---------------------------------------------------------------- driver side


def _run_worker(
    arguments: list[str], threads: int, min_rounds: int = MIN_ROUNDS
) -> tuple[object, str]:
    """Run this script as a worker subprocess; return its JSON answer or an error line."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, __file__, *arguments, "--threads", str(threads)]
    command += ["--min-rounds", str(min_rounds)]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return None, f"failed: {tail[0]}"
    return json.loads(completed.stdout.strip().splitlines()[-1]), ""


def _measure_grid(
    cases: Sequence[str], size: int, threads: int, min_rounds: int = MIN_ROUNDS
) -> list[Measurement]:
    """Peak memory of each case (one subprocess each), then interleaved times (one subprocess)."""
    tokens = size * size if SEGFORMER_CASE not in cases else (size // 4) ** 2
    rows = [Measurement(case, f"{size}x{size}", tokens) for case in cases]
    for row in rows:
        peak, error = _run_worker(["--memory-worker", row.case, str(size)], threads)
        row.peak_mib = peak if isinstance(peak, float) else None
        row.note = error
    times, error = _run_worker(["--timing-worker", ",".join(cases), str(size)], threads, min_rounds)
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


def run_all(
    grid_sizes: Sequence[int], threads: int, with_segformer: bool, min_rounds: int = MIN_ROUNDS
) -> list[Measurement]:
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
        measured = _measure_grid(cases, size, threads, min_rounds)
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
            (row,) = _measure_grid([SEGFORMER_CASE], 1024, threads, min_rounds)
            row.note = row.note or "forward only, no grad; tokens = stride-4 stage"
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


def run_deployment(
    grid_sizes: Sequence[int],
    threads: int,
    quick: bool,
    with_models: bool = True,
    min_rounds: int = MIN_ROUNDS,
) -> list[DeploymentRow]:
    """The deployment table: the mixer on each grid, then (with models, not quick) the models."""
    subjects = [("afno_mixer", size) for size in grid_sizes]
    if with_models and not quick:
        subjects += [(name, 0) for name in DEPLOYMENT_MODELS]
    rows = []
    for case, size in subjects:
        shape = (1, size, size, CHANNELS) if case == "afno_mixer" else DEPLOYMENT_MODELS[case][0]
        row = DeploymentRow(case, "x".join(str(n) for n in shape))
        arguments = ["--deployment-worker", case, str(size)] + (["--quick"] if quick else [])
        answer, error = _run_worker(arguments, threads, min_rounds)
        if isinstance(answer, dict):
            for name, value in answer.items():
                setattr(row, name, value)
        else:
            row.note = error
        print(_format_deployment_row(row), flush=True)
        rows.append(row)
    return rows


def run_profile(size: int, threads: int) -> dict[str, dict[str, float]]:
    """Per-kind self times of one step of each profiled case on an ``size`` grid."""
    breakdown: dict[str, dict[str, float]] = {}
    for case in PROFILE_CASES:
        answer, error = _run_worker(["--profile-worker", case, str(size)], threads)
        if isinstance(answer, dict):
            breakdown[case] = answer
        else:
            print(f"profile of {case} {error}", flush=True)
    return breakdown


def target_checks(
    rows: Sequence[Measurement], deployment: Sequence[DeploymentRow] = ()
) -> list[dict[str, object]]:
    """The issues' targets, evaluated on whatever rows were measured."""

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
        shown = round(value, 3) if value >= 1e-3 else float(f"{value:.2e}")
        checks.append({"target": name, "value": shown, "bound": bound, "met": passed})

    fft, full, quarter = (
        find(c, "256x256") for c in ("fft_roundtrip", "afno_keep1.0", "afno_keep0.25")
    )
    if fft and full and fft.time_s and full.time_s:
        add("256x256: AFNO time / FFT round trip", full.time_s / fft.time_s, 1.25, True)
        if fft.peak_mib and full.peak_mib is not None:
            add(
                "256x256: AFNO peak memory / FFT round trip",
                full.peak_mib / fft.peak_mib,
                1.3,
                True,
            )
    if full and quarter and full.time_s and quarter.time_s:
        add("256x256: AFNO keep 0.25 / keep 1.0 time", quarter.time_s / full.time_s, 0.6, True)
    for row in deployment:
        label = f"{row.case} {row.input_shape}"
        for kind in ("fwd", "fwd_bwd"):
            eager, compiled = getattr(row, f"eager_{kind}_s"), getattr(row, f"compiled_{kind}_s")
            if eager and compiled:
                add(f"{label}: compiled / eager time, {kind}", compiled / eager, 1.0, True)
        if row.onnx_relative_difference is not None and row.case != "afno_mixer":
            add(
                f"{label}: onnxruntime vs eager, relative", row.onnx_relative_difference, 1e-4, True
            )
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


DEPLOYMENT_HEADER = (
    f"{'case':<18} {'input':>16} {'eager f':>9} {'comp f':>9} {'export f':>9} {'onnx f':>9} "
    f"{'eager fb':>9} {'comp fb':>9} {'pairs fb':>9} {'export fb':>9} "
    f"{'onnx diff':>9} {'compile':>8} {'export':>8} {'onnx exp':>8}  note"
)


def _format_deployment_row(row: DeploymentRow) -> str:
    difference = (
        "-" if row.onnx_relative_difference is None else f"{row.onnx_relative_difference:.1e}"
    )

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    return (
        f"{row.case:<18} {row.input_shape:>16} {_format_time(row.eager_fwd_s):>9} "
        f"{_format_time(row.compiled_fwd_s):>9} {_format_time(row.exported_fwd_s):>9} "
        f"{_format_time(row.onnxruntime_fwd_s):>9} {_format_time(row.eager_fwd_bwd_s):>9} "
        f"{_format_time(row.compiled_fwd_bwd_s):>9} "
        f"{_format_time(row.compiled_real_pairs_fwd_bwd_s):>9} "
        f"{_format_time(row.exported_fwd_bwd_s):>9} {difference:>9} "
        f"{seconds(row.first_compiled_call_s):>8} {seconds(row.export_s):>8} "
        f"{seconds(row.onnx_export_s):>8}  {row.note}"
    )


def print_table(
    rows: Sequence[Measurement],
    checks: Sequence[dict[str, object]],
    deployment: Sequence[DeploymentRow] = (),
    breakdown: dict[str, dict[str, float]] | None = None,
) -> None:
    """Print the measurements, the deployment table, the profile and the target checks."""
    print(f"{'case':<20} {'grid':>10} {'tokens':>8} {'time':>11} {'peak MiB':>10}  note")
    for row in rows:
        print(_format_row(row))
    if deployment:
        print("\nDeployment (f: forward, fb: forward+backward; pairs: compiled real-pair path;")
        print("compile: first compiled call; export / onnx exp: export times)")
        print(DEPLOYMENT_HEADER)
        for deployment_row in deployment:
            print(_format_deployment_row(deployment_row))
    if breakdown:
        print("\nProfile: self time per step by kind of operation")
        categories = [*PROFILE_CATEGORIES, "other"]
        print(f"{'case':<16}" + "".join(f"{name:>30}" for name in categories))
        for case, seconds in breakdown.items():
            total = sum(seconds.values()) or 1.0
            cells = [
                f"{_format_time(seconds[name])} ({100 * seconds[name] / total:.0f}%)"
                for name in categories
            ]
            print(f"{case:<16}" + "".join(f"{cell:>30}" for cell in cells))
    if checks:
        print()
        for check in checks:
            status = "met" if check["met"] else "NOT met"
            print(f"{check['target']:<64} {check['value']:>8} (target {check['bound']}): {status}")


def write_results(
    rows: Sequence[Measurement],
    checks: Sequence[dict[str, object]],
    out_dir: Path,
    threads: int,
    deployment: Sequence[DeploymentRow] = (),
    breakdown: dict[str, dict[str, float]] | None = None,
    min_rounds: int = MIN_ROUNDS,
) -> None:
    """Write ``bench_mixers.csv`` (one row per measurement), ``bench_mixers.deployment.csv``
    and ``bench_mixers.json`` (everything, with the method and the target checks)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    deployment_columns = list(DeploymentRow.__dataclass_fields__)
    with open(out_dir / "bench_mixers.deployment.csv", "w", newline="") as handle:
        deployment_writer = csv.DictWriter(handle, fieldnames=deployment_columns)
        deployment_writer.writeheader()
        for deployment_row in deployment:
            deployment_writer.writerow(asdict(deployment_row))
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
        f"warm-up step; time: one subprocess per grid, cases interleaved, median of >= "
        f"{min_rounds} steps",
        "rows": [asdict(row) for row in rows],
        "deployment": [asdict(row) for row in deployment],
        "profile_seconds_per_step": breakdown or {},
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
        "--profile", action="store_true", help="also break a step down by kind of operation"
    )
    parser.add_argument(
        "--grids", type=int, nargs="+", help=f"grid sizes to run (default {list(GRID_SIZES)})"
    )
    parser.add_argument(
        "--skip-models",
        action="store_true",
        help="leave out the segmentation row and the models' deployment rows",
    )
    parser.add_argument(
        "--min-rounds",
        type=int,
        default=MIN_ROUNDS,
        help=f"timed rounds at least, per case (default {MIN_ROUNDS}; more on a busy machine)",
    )
    parser.add_argument(
        "--timing-worker", nargs=2, metavar=("CASES", "SIZE"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--deployment-worker", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--profile-worker", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.memory_worker:
        case, size = args.memory_worker[0], int(args.memory_worker[1])
        print(json.dumps(measure_peak_memory(case, size, args.threads)))
        return 0
    if args.timing_worker:
        cases, size = args.timing_worker[0].split(","), int(args.timing_worker[1])
        print(json.dumps(measure_times(cases, size, args.threads, args.min_rounds)))
        return 0
    if args.deployment_worker:
        case, size = args.deployment_worker[0], int(args.deployment_worker[1])
        print(
            json.dumps(
                measure_deployment(case, size, args.threads, not args.quick, args.min_rounds)
            )
        )
        return 0
    if args.profile_worker:
        case, size = args.profile_worker[0], int(args.profile_worker[1])
        print(json.dumps(profile_breakdown(case, size, args.threads)))
        return 0
    sizes = QUICK_GRID_SIZES if args.quick else tuple(args.grids or GRID_SIZES)
    with_models = not (args.quick or args.skip_models)
    rows = run_all(sizes, args.threads, with_models, args.min_rounds)
    print("\n" + DEPLOYMENT_HEADER)
    deployment = run_deployment(sizes, args.threads, args.quick, with_models, args.min_rounds)
    breakdown = run_profile(max(sizes), args.threads) if args.profile else None
    checks = target_checks(rows, deployment)
    print()
    print_table(rows, checks, deployment, breakdown)
    write_results(rows, checks, args.out_dir, args.threads, deployment, breakdown, args.min_rounds)
    print(
        f"\nwrote bench_mixers.csv, bench_mixers.deployment.csv and bench_mixers.json to {args.out_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
