"""Experiment 2: few-shot segmentation of street scenes after inpainting pretraining.

After the AFNO paper's few-shot set-up, on this project's procedural street
scenes (``abae.datasets.street_scenes``) at a CPU scale:

1. pretrain a small SegFormer-style model on unlabelled frames by inpainting
   (random 16×16 patches hidden, their pixels reconstructed, loss on hidden
   pixels only: ``afno.training.MaskedInpainting`` through ``afno.fit``,
   ``masked_inpainting.py``);
2. fine-tune it on 10 and on 50 labelled frames (per-pixel masks from the
   generator; 5 classes), and, as a control, train the same model from
   random weights on the same frames;
3. score mIoU on held-out frames from other clips (other roads, lights, cars).

The three frame pools come from disjoint ranges of one generated sequence, so
no held-out frame shares a clip with a training frame. Mixers: AFNO,
self-attention and GFN, in the same backbone (parameter counts are reported,
not equalised: the paper swaps the mixer in a fixed backbone).

Usage (from the repository root)::

    OMP_NUM_THREADS=2 .venv/bin/python experiments/afno/few_shot_segmentation.py          # full
    OMP_NUM_THREADS=2 .venv/bin/python experiments/afno/few_shot_segmentation.py --quick  # seconds

Outputs in ``experiments/afno/results/few_shot_segmentation/`` (``--quick``:
``.../quick/few_shot_segmentation``): ``few_shot_segmentation.csv`` (every run,
per-class IoU), ``few_shot_segmentation.md``, ``inpainting_loss.csv``,
``few_shot_segmentation.png`` and ``run_info.json``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from experiment_cli import parse_experiment_args, results_folder
from masked_inpainting import RECONSTRUCTION_CHANNELS, pixel_reconstructor, pretrain_inpainting
from parameter_budget import count_parameters
from result_tables import command_line, markdown_table, mean_and_sd, write_csv, write_run_info
from segmentation_metrics import confusion_matrix, iou_per_class
from torch import Tensor, nn
from torch.nn import functional

import afno
from abae.datasets.street_scenes import (
    SEGMENTATION_CLASSES,
    StreetSceneConfig,
    generate_street_scenes,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
MIXERS = ("afno", "attention", "gfn")
MIXER_KWARGS: dict[str, dict[str, Any]] = {
    "afno": {"num_blocks": 4},
    "attention": {"num_heads": 2},
    "gfn": {},
}
SCENE_SEED = 6060
"""Seed of the street-scene sequence (layouts, hence frames and masks)."""


@dataclass(frozen=True)
class SegmentationScale:
    """Frame size, pool sizes and training lengths."""

    frame_size: int
    scene_frames: int
    pretrain_frames: int
    eval_frames: int
    shots: tuple[int, ...]
    pretrain_steps: int
    pretrain_batch: int
    finetune_steps: int
    finetune_batch: int
    seeds: int
    embed_dims: tuple[int, int, int, int] = (16, 32, 64, 128)
    depths: tuple[int, int, int, int] = (1, 1, 2, 1)
    decoder_dim: int = 64
    mask_patch: int = 16
    mask_ratio: float = 0.5


FULL = SegmentationScale(
    frame_size=128,
    scene_frames=4000,
    pretrain_frames=1024,
    eval_frames=100,
    shots=(10, 50),
    pretrain_steps=240,
    pretrain_batch=16,
    finetune_steps=120,
    finetune_batch=8,
    seeds=3,
)
QUICK = SegmentationScale(
    frame_size=64,
    scene_frames=400,
    pretrain_frames=16,
    eval_frames=4,
    shots=(2, 4),
    pretrain_steps=2,
    pretrain_batch=4,
    finetune_steps=2,
    finetune_batch=2,
    seeds=1,
    mask_patch=8,
)


class FullResolutionLogits(nn.Module):
    """Upsample a stride-4 segmenter's logits to the input size (bilinear), for per-pixel loss."""

    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, images: Tensor) -> Tensor:
        logits: Tensor = self.segmenter(images)
        return functional.interpolate(
            logits, size=images.shape[2:], mode="bilinear", align_corners=False
        )


@dataclass(frozen=True)
class FramePools:
    """Standardised frames ``(N, 3, H, W)`` and masks int64 ``(N, H, W)`` of the three pools."""

    unlabelled: Tensor
    labelled_images: Tensor
    labelled_masks: Tensor
    eval_images: Tensor
    eval_masks: Tensor


def draw_pools(scale: SegmentationScale) -> FramePools:
    """Render the pools from disjoint index ranges: first half / third quarter / last quarter."""
    size = scale.frame_size
    scenes = generate_street_scenes(
        scale.scene_frames, rng=SCENE_SEED, config=StreetSceneConfig(height=size, width=size)
    )
    rng = np.random.default_rng(SCENE_SEED)
    half, three_quarters = scale.scene_frames // 2, 3 * scale.scene_frames // 4
    pretrain = np.sort(rng.choice(half, scale.pretrain_frames, replace=False))
    labelled = half + rng.choice(three_quarters - half, max(scale.shots), replace=False)
    held_out = three_quarters + rng.choice(
        scale.scene_frames - three_quarters, scale.eval_frames, replace=False
    )
    rendered = [scenes.render(indices) for indices in (pretrain, labelled, held_out)]
    as_float = [torch.from_numpy(r.images).permute(0, 3, 1, 2).float() / 255.0 for r in rendered]
    mean = as_float[0].mean(dim=(0, 2, 3), keepdim=True)
    std = as_float[0].std(dim=(0, 2, 3), keepdim=True)
    images = [(x - mean) / std for x in as_float]
    return FramePools(
        unlabelled=images[0],
        labelled_images=images[1],
        labelled_masks=torch.from_numpy(rendered[1].masks).long(),
        eval_images=images[2],
        eval_masks=torch.from_numpy(rendered[2].masks).long(),
    )


def build_segmenter(mixer: str, num_classes: int, scale: SegmentationScale, seed: int) -> nn.Module:
    """The small SegFormer-style model of this experiment."""
    return afno.create_model(
        "afno_segformer_b0",
        seed=seed,
        num_classes=num_classes,
        img_size=scale.frame_size,
        embed_dims=scale.embed_dims,
        depths=scale.depths,
        decoder_dim=scale.decoder_dim,
        mixer=mixer,
        mixer_kwargs=dict(MIXER_KWARGS[mixer]),
    )


def transfer_pretrained(segmenter: nn.Module, pretrained: nn.Module) -> None:
    """Copy every pretrained weight except the output layer (``decoder.classifier``)."""
    state = {
        name: value
        for name, value in pretrained.state_dict().items()
        if not name.startswith("decoder.classifier.")
    }
    missing, unexpected = segmenter.load_state_dict(state, strict=False)
    if unexpected or any(not name.startswith("decoder.classifier.") for name in missing):
        raise RuntimeError(f"weight transfer mismatch: missing {missing}, unexpected {unexpected}")


@torch.no_grad()
def score(model: nn.Module, images: Tensor, masks: Tensor) -> np.ndarray:
    """Per-class IoU ``(K,)`` of ``model`` on held-out frames (NaN for absent classes)."""
    model.eval()
    confusion = np.zeros((len(SEGMENTATION_CLASSES),) * 2, dtype=np.int64)
    for start in range(0, images.shape[0], 16):
        logits = model(images[start : start + 16])
        confusion += confusion_matrix(
            logits.argmax(dim=1), masks[start : start + 16], len(SEGMENTATION_CLASSES)
        )
    return iou_per_class(confusion)


def fine_tune(
    segmenter: nn.Module, pools: FramePools, shots: int, scale: SegmentationScale, seed: int
) -> tuple[np.ndarray, float]:
    """Train on the first ``shots`` labelled frames; return held-out IoU per class and seconds."""
    model = FullResolutionLogits(segmenter)
    epochs = max(1, round(scale.finetune_steps * scale.finetune_batch / shots))
    history = afno.fit(
        model,
        (pools.labelled_images[:shots], pools.labelled_masks[:shots]),
        epochs=epochs,
        batch_size=min(scale.finetune_batch, shots),
        lr=1e-3,
        weight_decay=0.01,
        schedule="cosine",
        seed=seed,
        progress=False,
    )
    return score(model, pools.eval_images, pools.eval_masks), history.seconds


def run_mixer(
    mixer: str, pools: FramePools, scale: SegmentationScale, seed: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Pretrain one mixer's model, then fine-tune (and train from scratch) at each shot count."""
    started = time.perf_counter()
    reconstructor = pixel_reconstructor(
        build_segmenter(mixer, RECONSTRUCTION_CHANNELS, scale, seed)
    )
    losses = pretrain_inpainting(
        reconstructor,
        pools.unlabelled,
        steps=scale.pretrain_steps,
        batch_size=scale.pretrain_batch,
        lr=2e-3,
        patch=scale.mask_patch,
        ratio=scale.mask_ratio,
        seed=seed,
    )
    pretraining = {
        "mixer": mixer,
        "seed": seed,
        "epochs": len(losses),
        "loss_first": round(float(losses[0]), 4),
        "loss_last": round(float(losses[-1]), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    rows: list[dict[str, Any]] = []
    for init in ("inpainting", "scratch"):
        for shots in scale.shots:
            segmenter = build_segmenter(mixer, len(SEGMENTATION_CLASSES), scale, seed + 1000)
            if init == "inpainting":
                transfer_pretrained(segmenter, reconstructor.model)
            iou, seconds = fine_tune(segmenter, pools, shots, scale, seed)
            rows.append(
                {
                    "mixer": mixer,
                    "init": init,
                    "shots": shots,
                    "seed": seed,
                    "parameters": count_parameters(segmenter),
                    "miou": round(float(np.nanmean(iou)), 4),
                    **{
                        f"iou_{name}": round(float(v), 4)
                        for name, v in zip(SEGMENTATION_CLASSES, iou, strict=True)
                    },
                    "finetune_seconds": round(seconds, 1),
                }
            )
            print(rows[-1], flush=True)
    return rows, pretraining


def summary_rows(runs: list[dict[str, Any]], scale: SegmentationScale) -> list[dict[str, Any]]:
    """One row per mixer: mIoU (mean ± sd over seeds) for each (init, shots)."""
    rows = []
    for mixer in MIXERS:
        row: dict[str, Any] = {"mixer": mixer}
        for init in ("inpainting", "scratch"):
            for shots in scale.shots:
                values = [
                    float(r["miou"])
                    for r in runs
                    if r["mixer"] == mixer and r["init"] == init and r["shots"] == shots
                ]
                mean, sd = mean_and_sd(values)
                label = "pretrained" if init == "inpainting" else "scratch"
                row[f"mIoU {shots}-shot {label}"] = (
                    f"{mean:.3f}" if len(values) == 1 else f"{mean:.3f} ± {sd:.3f}"
                )
        row["params"] = next(r["parameters"] for r in runs if r["mixer"] == mixer)
        rows.append(row)
    return rows


def plot(runs: list[dict[str, Any]], scale: SegmentationScale, path: Path) -> None:
    """Grouped bars: mIoU per mixer (mean, ± sd over seeds), per shot count, pretrained vs scratch."""
    figure, axis = plt.subplots(figsize=(7, 4.6))
    groups = [(init, shots) for init in ("inpainting", "scratch") for shots in scale.shots]
    width = 0.8 / len(groups)
    for offset, (init, shots) in enumerate(groups):
        spreads = [
            mean_and_sd(
                [
                    float(r["miou"])
                    for r in runs
                    if r["mixer"] == m and r["init"] == init and int(r["shots"]) == shots
                ]
            )
            for m in MIXERS
        ]
        positions = np.arange(len(MIXERS)) + offset * width
        label = f"{shots} frames, {'inpainting-pretrained' if init == 'inpainting' else 'scratch'}"
        axis.bar(
            positions,
            [mean for mean, _ in spreads],
            width,
            yerr=[sd for _, sd in spreads],
            capsize=3,
            label=label,
            hatch="" if init == "inpainting" else "//",
        )
    axis.set_xticks(np.arange(len(MIXERS)) + 0.4 - width / 2, MIXERS)
    axis.set_ylabel(f"held-out mIoU ({len(SEGMENTATION_CLASSES)} classes)")
    axis.set_title(f"Few-shot street-scene segmentation, {scale.frame_size}×{scale.frame_size}")
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
    axis.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run experiment 2 and write its tables and plot; returns 0."""
    arguments = sys.argv[1:] if argv is None else argv
    args = parse_experiment_args(__doc__.split("\n\n")[0], arguments)
    scale = QUICK if args.quick else FULL
    name = "few_shot_segmentation"
    out_dir = results_folder(args, name)
    started = time.perf_counter()
    pools = draw_pools(scale)
    runs: list[dict[str, Any]] = []
    pretraining: list[dict[str, Any]] = []
    for seed in range(scale.seeds):
        for mixer in MIXERS:
            mixer_runs, mixer_pretraining = run_mixer(mixer, pools, scale, seed)
            runs += mixer_runs
            pretraining.append(mixer_pretraining)
    write_csv(out_dir / f"{name}.csv", runs)
    write_csv(out_dir / "inpainting_loss.csv", pretraining)
    command = command_line(f"{name}.py", arguments)
    summary = summary_rows(runs, scale)
    (out_dir / f"{name}.md").write_text(
        f"Made by `{command}`: {scale.frame_size}×{scale.frame_size} frames, backbone widths "
        f"{scale.embed_dims}, depths {scale.depths}, about {scale.pretrain_steps} inpainting steps × "
        f"{scale.pretrain_batch} frames from {scale.pretrain_frames} unlabelled frames, "
        f"{scale.finetune_steps} fine-tuning steps, mIoU over {len(SEGMENTATION_CLASSES)} classes "
        f"on {scale.eval_frames} held-out frames, {scale.seeds} seed(s).\n\n"
        + markdown_table(summary)
        + "\nInpainting loss (masked-pixel MSE on standardised pixels, mean of the first and "
        "last epoch; predicting the mean scores about 1):\n\n" + markdown_table(pretraining)
    )
    plot(runs, scale, out_dir / f"{name}.png")
    seconds = round(time.perf_counter() - started, 1)
    write_run_info(
        out_dir,
        command,
        "quick" if args.quick else "full",
        {
            "scale": asdict(scale),
            "mixer_kwargs": MIXER_KWARGS,
            "scene_seed": SCENE_SEED,
            "seconds": seconds,
        },
    )
    print(markdown_table(summary), f"\nwrote {out_dir} in {seconds} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
