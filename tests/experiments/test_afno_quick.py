"""The AFNO experiments: their helpers, and each script's ``--quick`` run end to end."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT_DIR = ROOT / "experiments" / "afno"
sys.path.insert(0, str(EXPERIMENT_DIR))

from flop_count import count_forward_flops  # noqa: E402
from masked_inpainting import masked_mse, random_patch_mask  # noqa: E402
from parameter_budget import ClassifierShape, matched_widths  # noqa: E402
from scaling_fit import fit_quadratic  # noqa: E402
from segmentation_metrics import confusion_matrix, iou_per_class, mean_iou  # noqa: E402


class _RealFFT(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.fft.irfft2(
            torch.fft.rfft2(x, norm="ortho"), s=x.shape[-2:], norm="ortho"
        )
        return out


def test_flop_count_adds_ffts_attention_and_complex_products() -> None:
    # one rfft2 + one irfft2 of 8x8 points, 3 signals: 2 * 2.5 * 64 * log2(64) * 3
    count = count_forward_flops(_RealFFT(), torch.randn(3, 8, 8))
    assert count.fft == pytest.approx(2 * 2.5 * 64 * 6 * 3)
    assert count.matmul == 0.0
    linear = torch.nn.Linear(16, 4)
    assert count_forward_flops(linear, torch.randn(5, 16)).matmul == 2 * 5 * 16 * 4

    class SelfAttend(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q = x.view(1, 10, 2, 4).transpose(1, 2)
            return torch.nn.functional.scaled_dot_product_attention(q, q, q)

    assert count_forward_flops(SelfAttend(), torch.randn(1, 10, 8)).attention == 4 * 2 * 10 * 10 * 4


def test_complex_matrix_products_count_four_times_the_real_rule() -> None:
    class ComplexProduct(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            z = torch.complex(x, x)
            return torch.view_as_real(z @ z.mT)

    count = count_forward_flops(ComplexProduct(), torch.randn(6, 5))
    assert count.library_count == 2 * 6 * 5 * 6
    assert count.matmul == 4 * count.library_count


def test_random_patch_mask_hides_exactly_the_asked_share_per_frame() -> None:
    generator = torch.Generator().manual_seed(0)
    mask = random_patch_mask(3, 32, 48, patch=8, ratio=0.5, generator=generator)
    assert mask.shape == (3, 1, 32, 48)
    assert mask.reshape(3, -1).float().mean(dim=1).tolist() == [0.5, 0.5, 0.5]
    # whole patches: every 8x8 tile is all hidden or all visible
    tiles = mask[:, 0].reshape(3, 4, 8, 6, 8).permute(0, 1, 3, 2, 4).reshape(3, 24, 64)
    assert bool(((tiles.all(-1)) | (~tiles).all(-1)).all())
    images = torch.randn(3, 3, 32, 48)
    assert masked_mse(images, images, mask) == 0.0
    assert masked_mse(images.masked_fill(mask, 7.0), images, ~mask) == 0.0
    with pytest.raises(ValueError, match="must divide"):
        random_patch_mask(1, 30, 32, patch=8, ratio=0.5, generator=generator)


def test_iou_and_mean_iou_from_a_known_confusion() -> None:
    target = torch.tensor([[0, 0, 1, 1, 2]])
    predicted = torch.tensor([[0, 1, 1, 1, 0]])
    confusion = confusion_matrix(predicted, target, 4)
    np.testing.assert_array_equal(confusion[:3, :3], [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    iou = iou_per_class(confusion)
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 0.0])
    assert math.isnan(iou[3])  # class 3 absent from both: left out of the mean
    assert mean_iou(confusion) == pytest.approx(1 / 3)


def test_quadratic_fit_recovers_and_extrapolates() -> None:
    tokens = [1000.0, 2000.0, 4000.0, 8000.0]
    fit = fit_quadratic(tokens, [0.1 + 2e-5 * n + 3e-9 * n**2 for n in tokens])
    assert fit(65_536) == pytest.approx(0.1 + 2e-5 * 65_536 + 3e-9 * 65_536**2, rel=1e-6)
    assert fit.max_relative_error < 1e-9
    with pytest.raises(ValueError, match="3 or more"):
        fit_quadratic([1.0, 2.0, 2.0], [1.0, 2.0, 2.0])


def test_matched_widths_keep_parameter_counts_within_ten_percent() -> None:
    shape = ClassifierShape(depth=2)
    widths = matched_widths(40_000, shape, ("afno", "attention", "gfn", "fno"))
    for mixer, (width, params) in widths.items():
        assert abs(params - 40_000) / 40_000 < 0.1, (mixer, width, params)
    assert widths["attention"][0] < widths["afno"][0]  # attention costs more per width


def _run_quick(script: str, out_dir: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(EXPERIMENT_DIR / script),
            "--quick",
            "--threads",
            "1",
            "--results-dir",
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    info = json.loads((out_dir / "run_info.json").read_text())
    assert info["mode"] == "quick"
    assert "--quick" in info["command"]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_classification_quick_run(tmp_path: Path) -> None:
    _run_quick("classification.py", tmp_path)
    rows = _read(tmp_path / "classification.csv")
    assert [r["mixer"] for r in rows] == ["afno", "attention", "gfn", "fno"]
    for row in rows:
        assert 0.9 <= float(row["params_vs_afno"]) <= 1.1
        assert 0.0 <= float(row["accuracy_mean"]) <= 1.0
        assert float(row["train_images_per_s"]) > 0
        assert float(row["inference_images_per_s"]) > 0
        assert float(row["mflops_per_image"]) >= float(row["mflops_flopcountermode"]) > 0
    fourier = {r["mixer"]: float(r["mflops_fft_analytic"]) for r in rows}
    assert fourier["afno"] > 0
    assert fourier["attention"] == 0
    assert len(_read(tmp_path / "classification_runs.csv")) == 8  # 4 mixers x 2 seeds
    assert (tmp_path / "classification.png").stat().st_size > 10_000


def test_few_shot_segmentation_quick_run(tmp_path: Path) -> None:
    _run_quick("few_shot_segmentation.py", tmp_path)
    runs = _read(tmp_path / "few_shot_segmentation.csv")
    assert {(r["mixer"], r["init"], r["shots"]) for r in runs} == {
        (m, i, s)
        for m in ("afno", "attention", "gfn")
        for i in ("inpainting", "scratch")
        for s in ("2", "4")
    }
    assert all(0.0 <= float(r["miou"]) <= 1.0 for r in runs)
    losses = _read(tmp_path / "inpainting_loss.csv")
    assert all(float(r["loss_first"]) > 0 for r in losses)
    assert "mIoU 2-shot pretrained" in (tmp_path / "few_shot_segmentation.md").read_text()


@pytest.mark.slow  # about 20 s; the models' high-resolution paths have their own unit tests
def test_high_resolution_quick_run(tmp_path: Path) -> None:
    _run_quick("high_resolution.py", tmp_path)
    rows = _read(tmp_path / "high_resolution.csv")
    sources = {(r["case"], r["input"]): r["source"] for r in rows}
    assert sources[("afno", "96x96")] == "measured"
    assert sources[("gfn", "96x96")] == "measured"
    assert sources[("attention", "96x96")] == "measured"
    assert sources[("attention-math", "96x96")] == "extrapolated"
    assert all(float(r["forward_seconds"]) > 0 for r in rows)
    fits = {(r["case"], r["quantity"]): r for r in _read(tmp_path / "high_resolution_fits.csv")}
    assert len(fits) == 4
    # attention is measured above its fitted range, so its fit is checked there
    assert fits["attention", "forward_seconds"]["fit_over_measured_above_fit_range"].startswith(
        "96: "
    )
    assert fits["attention-math", "forward_seconds"]["fit_over_measured_above_fit_range"] == "none"
