"""The training loop: determinism, learning, objectives, data forms, progress and input checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from afno import create_model, evaluate, fit, predict
from afno.training import TensorPairs

TINY_CLASSIFIER = {
    "img_size": 8,
    "patch_size": 4,
    "in_chans": 1,
    "num_classes": 3,
    "embed_dim": 8,
    "depth": 2,
    "mixer_kwargs": {"num_blocks": 2},
    "drop_rate": 0.1,
    "drop_path_rate": 0.2,
}


def _blobs(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three well-separated classes of 1×8×8 images: class c is bright in band c."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=generator)
    images = 0.3 * torch.randn(n, 1, 8, 8, generator=generator)
    for c in range(3):
        images[labels == c, :, :, c * 2 : c * 2 + 3] += 2.0
    return images, labels


class _PairList(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A plain map-style Dataset (not TensorPairs), to take the DataLoader path."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.inputs, self.targets = inputs, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[index], self.targets[index]


def _train(seed: int, data: object = None) -> nn.Module:
    model = create_model("afnonet_tiny", **TINY_CLASSIFIER, seed=7)
    fit(
        model,
        _blobs() if data is None else data,  # type: ignore[arg-type]
        epochs=2,
        batch_size=16,
        lr=3e-3,
        seed=seed,
        schedule="cosine",
        warmup_steps=2,
        progress=False,
    )
    return model


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_same_seed_gives_bitwise_equal_weights_and_spares_global_rng() -> None:
    state = torch.random.get_rng_state()
    first, second = _train(seed=1), _train(seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert _same_weights(first, second)
    assert not _same_weights(first, _train(seed=2))


def test_dataset_and_tensor_pairs_shuffle_alike() -> None:
    images, labels = _blobs()
    assert _same_weights(_train(seed=1), _train(seed=1, data=_PairList(images, labels)))


def test_fit_learns_separable_classes() -> None:
    images, labels = _blobs(192)
    no_dropout = TINY_CLASSIFIER | {"drop_rate": 0.0, "drop_path_rate": 0.0}
    model = create_model("afnonet_tiny", **no_dropout, seed=0)
    before = evaluate(model, (images, labels))
    history = fit(model, (images, labels), epochs=6, batch_size=16, lr=1e-2, seed=0, progress=False)
    after = evaluate(model, _blobs(96, seed=1))
    assert len(history.epochs) == 6
    assert history.steps == 6 * 12
    assert history.train_loss[-1] < history.train_loss[0]
    assert after["accuracy"] > 0.9 > before["accuracy"]
    assert model.training


def test_evaluate_matches_a_direct_computation() -> None:
    inputs = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    targets = torch.randint(0, 3, (50,), generator=torch.Generator().manual_seed(1))
    model = nn.Linear(4, 3)
    metrics = evaluate(model, (inputs, targets), batch_size=7)
    with torch.no_grad():
        logits = model(inputs)
    assert metrics["loss"] == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-5)
    assert metrics["accuracy"] == pytest.approx((logits.argmax(1) == targets).float().mean().item())


def test_mse_regression_and_bce_objectives() -> None:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(128, 3, generator=generator)
    values = inputs @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    regressor = nn.Linear(3, 1)
    fit(regressor, (inputs, values), loss="mse", epochs=30, batch_size=32, lr=5e-2, progress=False)
    metrics = evaluate(regressor, (inputs, values), loss="mse")
    assert set(metrics) == {"loss", "mae"}
    assert metrics["loss"] < 1e-2

    classifier = nn.Linear(3, 1)
    positive = (values > 0).float()
    fit(
        classifier,
        (inputs, positive),
        loss="bce",
        epochs=20,
        batch_size=32,
        lr=5e-2,
        progress=False,
    )
    assert evaluate(classifier, (inputs, positive), loss="bce")["accuracy"] > 0.9


def test_per_pixel_cross_entropy_for_segmentation() -> None:
    model = nn.Conv2d(2, 3, kernel_size=1)
    images = torch.randn(8, 2, 4, 4)
    masks = torch.randint(0, 3, (8, 4, 4))
    history = fit(model, (images, masks), epochs=1, batch_size=4, progress=False)
    assert len(history.train_loss) == 1
    assert 0.0 <= evaluate(model, (images, masks))["accuracy"] <= 1.0


def test_validation_metrics_are_recorded_per_epoch() -> None:
    images, labels = _blobs()
    model = create_model("afnonet_tiny", **TINY_CLASSIFIER, seed=0)
    history = fit(
        model,
        (images, labels),
        epochs=2,
        batch_size=32,
        validation_data=(images, labels),
        progress=False,
    )
    assert [record.epoch for record in history.epochs] == [1, 2]
    # The last epoch's validation metrics are those of the trained model (eval mode).
    assert history.epochs[-1].validation == evaluate(model, (images, labels), batch_size=256)
    assert set(history.epochs[0].validation or {}) == {"loss", "accuracy"}


def test_predict_runs_in_eval_mode_and_keeps_the_mode() -> None:
    images, _ = _blobs(20)
    model = create_model("afnonet_tiny", **TINY_CLASSIFIER, seed=0)
    model.train()
    outputs = predict(model, images, batch_size=6)
    assert outputs.shape == (20, 3)
    assert model.training
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(outputs, model(images))


def test_progress_bar_is_shown_and_can_be_hidden(capsys: pytest.CaptureFixture[str]) -> None:
    data = (torch.randn(16, 2), torch.randint(0, 2, (16,)))
    fit(nn.Linear(2, 2), data, epochs=1, batch_size=4, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err
    fit(nn.Linear(2, 2), data, epochs=1, batch_size=4, progress=False)
    assert "epoch" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        ((torch.randn(4, 2), torch.zeros(5)), {}, r"inputs \(4, 2\) and targets \(5,\)"),
        ((torch.randn(0, 2), torch.zeros(0)), {}, "no samples"),
        ((torch.randn(4, 2), torch.zeros(4, 2).long()), {}, r"targets \(4, 2\)"),
        ((torch.randn(4, 2), torch.zeros(4)), {}, "integer class indices"),
        ((torch.randn(4, 2), torch.zeros(4, 3)), {"loss": "mse"}, r"targets \(4, 3\)"),
        ((torch.randn(4, 2), torch.zeros(4).long()), {"loss": "hinge"}, "loss must be one of"),
        ((torch.randn(4, 2), torch.zeros(4).long()), {"epochs": 0}, "epochs must be at least 1"),
        ((torch.randn(4, 2), torch.zeros(4).long()), {"batch_size": 0}, "batch_size must be"),
        ((torch.randn(4, 2), torch.zeros(4).long()), {"lr": -1.0}, "lr must be positive"),
        ("not data", {}, "data must be a pair"),
    ],
)
def test_bad_fit_inputs_are_value_errors(
    data: object, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit(nn.Linear(2, 2), data, progress=False, **options)  # type: ignore[arg-type]


def test_diverging_training_stops_with_a_clear_error() -> None:
    inputs = torch.full((8, 2), float("nan"))
    with pytest.raises(FloatingPointError, match="training loss became nan"):
        fit(nn.Linear(2, 2), (inputs, torch.zeros(8).long()), progress=False)


def test_tensor_pairs_validate_lengths() -> None:
    with pytest.raises(ValueError, match="same number of samples"):
        TensorPairs(torch.zeros(3, 1), torch.zeros(2))
