"""Self-supervised pretraining (masked inpainting through ``fit``) and early stopping."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from afno import create_model, evaluate, fit
from afno.training import (
    CellReconstructor,
    EarlyStopping,
    MaskedInpainting,
    TokenReconstructor,
    masked_mse,
    random_patch_mask,
)

TINY_ENCODER = {
    "img_size": 8,
    "patch_size": 4,
    "in_chans": 1,
    "num_classes": 1,
    "embed_dim": 8,
    "depth": 1,
    "mixer_kwargs": {"num_blocks": 2},
}


def _stripes(n: int = 64, seed: int = 0) -> torch.Tensor:
    """1×8×8 images of vertical stripes with a random phase: a hidden patch is predictable
    from its neighbours, so inpainting can learn."""
    generator = torch.Generator().manual_seed(seed)
    phase = torch.rand(n, 1, 1, 1, generator=generator) * 6.28
    columns = torch.arange(8.0).view(1, 1, 1, 8)
    return torch.sin(columns + phase).expand(n, 1, 8, 8).contiguous()


def _encoder(seed: int = 0) -> nn.Module:
    return create_model("afnonet_tiny", **TINY_ENCODER, seed=seed)


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_the_loss_counts_hidden_pixels_only() -> None:
    images = torch.randn(2, 3, 8, 8)
    mask = random_patch_mask(2, 8, 8, patch=4, ratio=0.5, generator=torch.Generator())
    # Perfect on the hidden pixels, garbage elsewhere: no loss.
    assert float(masked_mse(images.masked_fill(~mask, 100.0), images, mask)) == 0.0
    shifted = images + 1.0
    assert float(masked_mse(shifted, images, mask)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="hides no pixel"):
        masked_mse(images, images, torch.zeros_like(mask))
    with pytest.raises(ValueError, match="shape"):
        masked_mse(images[:, :1], images, mask)


def test_inpainting_pretraining_learns_to_fill_in_hidden_patches() -> None:
    images = _stripes(32)
    objective = MaskedInpainting(patch=4, ratio=0.5)
    model = TokenReconstructor(_encoder(), seed=0)
    before = evaluate(model, images, loss=objective)["loss"]
    history = fit(
        model, images, loss=objective, epochs=30, batch_size=8, lr=2e-2, seed=1, progress=False
    )
    after = evaluate(model, images, loss=objective)["loss"]
    # Predicting the mean (0) scores about 0.5 on sine stripes; the model does far better.
    assert after < 0.5 * before
    assert after < 0.3
    assert history.train_loss[-1] < history.train_loss[0]


def test_inpainting_pretraining_is_deterministic_given_its_seeds() -> None:
    images = _stripes(16)
    objective = MaskedInpainting(patch=4, ratio=0.5)
    runs = []
    for _ in range(2):
        model = TokenReconstructor(_encoder(), seed=0)
        fit(model, images, loss=objective, epochs=2, batch_size=8, seed=1, progress=False)
        runs.append((model, evaluate(model, images, loss=objective)["loss"]))
    (first, first_loss), (second, second_loss) = runs
    assert _same_weights(first, second)
    assert first_loss == second_loss
    other = TokenReconstructor(_encoder(), seed=0)
    fit(other, images, loss=objective, epochs=2, batch_size=8, seed=2, progress=False)
    assert not _same_weights(first, other)


def test_prepare_turns_stored_pixels_into_model_input() -> None:
    pixels = (torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(2)) * 255).to(
        torch.uint8
    )
    seen: list[torch.dtype] = []

    def standardise(batch: torch.Tensor) -> torch.Tensor:
        seen.append(batch.dtype)
        return batch.float() / 255.0 - 0.5

    objective = MaskedInpainting(patch=4, prepare=standardise)
    history = fit(
        TokenReconstructor(_encoder()), pixels, loss=objective, batch_size=4, progress=False
    )
    assert seen
    assert set(seen) == {torch.uint8}
    assert math.isfinite(history.train_loss[0])


def test_reconstructors_check_their_models() -> None:
    encoder = _encoder()
    model = TokenReconstructor(encoder)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 1, 8, 8)
    assert model.encoder is encoder
    with pytest.raises(ValueError, match="forward_features"):
        TokenReconstructor(nn.Linear(2, 2))
    segmenter = create_model(
        "afno_segformer_b0",
        num_classes=3 * 4 * 4,
        in_chans=3,
        img_size=32,
        embed_dims=(8, 8, 8, 8),
        depths=(1, 1, 1, 1),
        decoder_dim=8,
        mixer_kwargs={"num_blocks": 2},
        seed=0,
    )
    assert CellReconstructor(segmenter, 4)(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="num_classes=12"):
        CellReconstructor(segmenter, 2)(torch.zeros(1, 3, 32, 32))


def test_objective_and_data_errors_are_explained() -> None:
    with pytest.raises(ValueError, match="ratio"):
        MaskedInpainting(patch=4, ratio=1.0)
    with pytest.raises(ValueError, match="patch"):
        MaskedInpainting(patch=0)
    with pytest.raises(ValueError, match="must divide"):
        fit(
            TokenReconstructor(_encoder()),
            torch.zeros(4, 1, 8, 8),
            loss=MaskedInpainting(patch=3),
            progress=False,
        )
    with pytest.raises(ValueError, match="self-supervised objective"):
        fit(nn.Linear(2, 2), torch.zeros(4, 2), loss="mse", progress=False)
    with pytest.raises(ValueError, match="Objective"):
        fit(nn.Linear(2, 2), (torch.zeros(4, 2), torch.zeros(4)), loss=42, progress=False)  # type: ignore[arg-type]


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch() -> None:
    inputs, targets = torch.randn(32, 4), torch.randint(0, 2, (32,))
    model = nn.Linear(4, 2)
    scores = iter([0.5, 0.9, 0.7, 0.8, 0.95, 0.1])
    snapshots: list[torch.Tensor] = []

    def score(module: nn.Module) -> float:
        assert not module.training
        snapshots.append(module.weight.detach().clone())  # type: ignore[union-attr]
        return next(scores)

    history = fit(
        model,
        (inputs, targets),
        epochs=10,
        batch_size=8,
        early_stopping=EarlyStopping(score, patience=2),
        progress=False,
    )
    assert history.scores == [0.5, 0.9, 0.7, 0.8]
    assert history.best_epoch == 2
    assert history.stopped_early
    assert torch.equal(model.weight, snapshots[1])
    assert model.training


def test_early_stopping_without_restoring_keeps_the_last_weights() -> None:
    model = nn.Linear(4, 2)
    scores = iter([0.9, 0.1, 0.1])
    history = fit(
        model,
        (torch.randn(16, 4), torch.randint(0, 2, (16,))),
        epochs=3,
        batch_size=8,
        early_stopping=EarlyStopping(lambda m: next(scores), patience=5, restore_best=False),
        progress=False,
    )
    assert len(history.epochs) == 3
    assert not history.stopped_early
    assert history.best_epoch == 1
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(lambda m: 0.0, patience=0)
    with pytest.raises(FloatingPointError, match="NaN"):
        fit(
            nn.Linear(4, 2),
            (torch.randn(8, 4), torch.randint(0, 2, (8,))),
            early_stopping=EarlyStopping(lambda m: float("nan")),
            progress=False,
        )
