"""ONNX export of both model families, run by onnxruntime, against eager mode.

The FFTs become ONNX DFT operators; the target is a relative difference of at
most 1e-4 (max |onnx - eager| / max |eager|). The default run exports the
registered ``afnonet_tiny`` and a narrow segmentation model at fixed sizes
(a few seconds each); the full ``afno_segformer_b0`` with dynamic sizes is slow.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import afno

pytest.importorskip("onnxruntime", reason="needs the `export` extra")
pytest.importorskip("onnxscript", reason="needs the `export` extra")

ONNX_TOLERANCE = 1e-4
NARROW_SEGMENTER = {
    "num_classes": 3,
    "in_chans": 3,
    "img_size": 64,
    "embed_dims": (8, 8, 16, 16),
    "depths": (1, 1, 1, 1),
    "decoder_dim": 8,
    "mixer_kwargs": {"num_blocks": 4},
}


def onnx_against_eager(
    model: torch.nn.Module,
    example: torch.Tensor,
    others: list[torch.Tensor],
    path: Path,
    **kwargs: object,
) -> list[float]:
    """Export, then the relative difference to eager mode on the example and on ``others``."""
    afno.export_onnx(model, example, path, **kwargs)  # type: ignore[arg-type]
    session = afno.OnnxModel(path, threads=1)
    differences = []
    for images in (example, *others):
        with torch.no_grad():
            expected = model(images).numpy()
        actual = session(images)
        assert actual.shape == expected.shape
        differences.append(afno.relative_difference(actual, expected))
    return differences


def test_afnonet_tiny_round_trip(tmp_path: Path) -> None:
    model = afno.create_model(
        "afnonet_tiny", img_size=16, patch_size=4, in_chans=1, num_classes=10, seed=0
    ).eval()
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(2, 1, 16, 16, generator=generator)
    differences = onnx_against_eager(
        model,
        example,
        [torch.randn(2, 1, 16, 16, generator=generator)],
        tmp_path / "tiny.onnx",
        dynamic=False,
    )
    assert max(differences) <= ONNX_TOLERANCE, differences


def test_segmenter_round_trip(tmp_path: Path) -> None:
    model = afno.create_model("afno_segformer_b0", **NARROW_SEGMENTER, seed=0).eval()
    generator = torch.Generator().manual_seed(1)
    example = torch.randn(1, 3, 64, 64, generator=generator)
    differences = onnx_against_eager(
        model,
        example,
        [torch.randn(1, 3, 64, 64, generator=generator)],
        tmp_path / "seg.onnx",
        dynamic=False,
    )
    assert max(differences) <= ONNX_TOLERANCE, differences


@pytest.mark.slow
def test_afnonet_tiny_dynamic_sizes(tmp_path: Path) -> None:
    model = afno.create_model(
        "afnonet_tiny", img_size=28, patch_size=4, in_chans=1, num_classes=10, seed=0
    ).eval()
    generator = torch.Generator().manual_seed(2)
    others = [
        torch.randn(3, 1, 44, 36, generator=generator),
        torch.randn(1, 1, 8, 64, generator=generator),
    ]
    differences = onnx_against_eager(
        model, torch.randn(2, 1, 28, 28, generator=generator), others, tmp_path / "tiny.onnx"
    )
    assert max(differences) <= ONNX_TOLERANCE, differences


@pytest.mark.slow
def test_segformer_b0_full_size_dynamic_sizes(tmp_path: Path) -> None:
    model = afno.create_model("afno_segformer_b0", num_classes=19, seed=0).eval()
    generator = torch.Generator().manual_seed(3)
    others = [
        torch.randn(1, 3, 96, 128, generator=generator),
        torch.randn(2, 3, 64, 64, generator=generator),
    ]
    differences = onnx_against_eager(
        model, torch.randn(1, 3, 64, 64, generator=generator), others, tmp_path / "b0.onnx"
    )
    assert max(differences) <= ONNX_TOLERANCE, differences


def test_onnx_model_takes_float32_only(tmp_path: Path) -> None:
    mixer = afno.AFNO(8, num_blocks=2).eval()
    path = afno.export_onnx(mixer, torch.randn(2, 4, 4, 8), tmp_path / "mixer.onnx", dynamic=False)
    session = afno.OnnxModel(path)
    tokens = np.random.default_rng(0).standard_normal((2, 4, 4, 8))
    with pytest.raises(ValueError, match=r"takes float32 input.*got float64"):
        session(tokens)
    with torch.no_grad():
        expected = mixer(torch.from_numpy(tokens).float()).numpy()
    assert afno.relative_difference(session(tokens.astype(np.float32)), expected) <= ONNX_TOLERANCE


def test_missing_export_extra_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "onnxscript" else real_find_spec(name, *args),
    )
    with pytest.raises(ImportError, match=r"'onnxscript'.*pip install 'abae-afno\[export\]'"):
        afno.export_onnx(afno.AFNO(8, num_blocks=2), torch.randn(2, 4, 4, 8), tmp_path / "m.onnx")


def test_relative_difference() -> None:
    assert afno.relative_difference([1.0, -2.0], [1.0, -2.0]) == 0.0
    assert afno.relative_difference([1.0, -2.5], [1.0, -2.0]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"outputs differ in shape: \(2,\) against \(3,\)"):
        afno.relative_difference([1.0, 2.0], [1.0, 2.0, 3.0])
