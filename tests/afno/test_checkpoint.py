"""Checkpoints: round trip, weights-only loading, clear errors for mismatches and bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from afno import (
    CheckpointError,
    CheckpointMismatchError,
    create_model,
    load_checkpoint,
    save_checkpoint,
)
from afno.training.checkpoint import config_differences

TINY = {
    "img_size": 8,
    "patch_size": 4,
    "in_chans": 1,
    "num_classes": 3,
    "embed_dim": 8,
    "depth": 1,
    "mixer_kwargs": {"num_blocks": 2},
}
_UNPICKLED: list[str] = []


def _record_unpickling(tag: str) -> list[str]:
    _UNPICKLED.append(tag)
    return _UNPICKLED


class _CodeOnLoad:
    """An object whose unpickling would call a function: weights-only loading must refuse it."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_record_unpickling, ("ran",))


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, nn.Module]:
    model = create_model("afnonet_tiny", **TINY, seed=0).eval()
    path = save_checkpoint(tmp_path / "tiny.pt", model, metadata={"epochs": 3, "accuracy": 0.5})
    return path, model


def test_round_trip_rebuilds_the_model_from_the_registry(saved: tuple[Path, nn.Module]) -> None:
    path, model = saved
    restored = load_checkpoint(path)
    assert restored.model_name == "afnonet_tiny"
    assert restored.metadata == {"epochs": 3, "accuracy": 0.5}
    assert restored.config["embed_dim"] == 8
    images = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(restored.model(images), model(images), rtol=0, atol=0)
    assert [p.name for p in path.parent.iterdir()] == ["tiny.pt"]  # no temporary files left


def test_round_trip_into_a_given_model(saved: tuple[Path, nn.Module]) -> None:
    path, model = saved
    fresh = create_model("afnonet_tiny", **TINY, seed=1)
    load_checkpoint(path, fresh)
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_another_configuration_names_the_differing_keys(saved: tuple[Path, nn.Module]) -> None:
    path, _ = saved
    other = create_model("afnonet_tiny", **TINY | {"embed_dim": 16, "num_classes": 5})
    with pytest.raises(CheckpointMismatchError) as caught:
        load_checkpoint(path, other)
    message = str(caught.value)
    assert str(path) in message
    assert "embed_dim: checkpoint 8, model 16" in message
    assert "num_classes: checkpoint 3, model 5" in message
    assert "size mismatch" not in message
    assert caught.value.differences == {"embed_dim": (8, 16), "num_classes": (3, 5)}
    assert isinstance(caught.value, ValueError)


def test_another_model_name_is_a_mismatch(saved: tuple[Path, nn.Module]) -> None:
    path, _ = saved
    other = create_model("afnonet_small", **TINY)
    with pytest.raises(CheckpointMismatchError, match="model_name: checkpoint 'afnonet_tiny'"):
        load_checkpoint(path, other)


def test_plain_modules_are_checked_by_parameter_shape(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "linear.pt", nn.Linear(3, 2))
    target = nn.Linear(3, 2)
    assert load_checkpoint(path, target).model is target
    with pytest.raises(
        CheckpointMismatchError, match=r"weight: checkpoint \(2, 3\), model \(4, 3\)"
    ):
        load_checkpoint(path, nn.Linear(3, 4))
    with pytest.raises(CheckpointError, match="names no registered model"):
        load_checkpoint(path)


def test_tuple_and_list_configs_compare_equal() -> None:
    assert config_differences({"size": (8, 8)}, {"size": [8, 8]}) == {}
    assert config_differences({"a": 1}, {"b": 1}) == {"a": (1, "<absent>"), "b": ("<absent>", 1)}


def test_truncated_file_names_the_file(saved: tuple[Path, nn.Module], tmp_path: Path) -> None:
    path, _ = saved
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.pt cannot be read"):
        load_checkpoint(truncated)


def test_garbage_and_foreign_files_are_checkpoint_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match=r"garbage\.pt cannot be read"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not an afno checkpoint"):
        load_checkpoint(foreign)


def test_pickled_code_is_refused_and_never_runs(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.pt"
    torch.save({"format": "afno.checkpoint", "payload": _CodeOnLoad()}, hostile)
    with pytest.raises(CheckpointError, match=r"hostile\.pt cannot be read"):
        load_checkpoint(hostile)
    assert _UNPICKLED == []


def test_missing_file_and_non_plain_data(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.pt does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match=r"metadata\['when'\] holds a object"):
        save_checkpoint(tmp_path / "x.pt", nn.Linear(1, 1), metadata={"when": object()})
    assert not list(tmp_path.iterdir())


def _with_config(path: Path, tmp_path: Path, **changes: object) -> Path:
    """A copy of the checkpoint at ``path`` whose config has ``changes`` (weights unchanged)."""
    payload = torch.load(path, weights_only=True)
    payload["config"] = {**payload["config"], **changes}
    hostile = tmp_path / "hostile.pt"
    torch.save(payload, hostile)
    return hostile


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"embed_dim": 65536, "depth": 64}, "asks for a larger model than the weights it holds"),
        ({"depth": 1_000_000}, "asks for a larger model than the weights it holds"),
        ({"img_size": 16384, "patch_size": 1}, "asks for a larger model than the weights it holds"),
        ({"mlp_ratio": 100_000.0}, "asks for a larger model than the weights it holds"),
        ({"embed_dim": 10**12}, r"implausible config: config\['embed_dim'\] is 1000000000000"),
        ({"mixer_kwargs": {"a": [[[[[[[[[1]]]]]]]]]}}, "nested deeper"),
    ],
)
def test_a_config_that_outgrows_its_weights_is_refused_before_building(
    saved: tuple[Path, nn.Module], tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    hostile = _with_config(saved[0], tmp_path, **changes)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(hostile)


def test_a_config_that_builds_other_shapes_names_them_before_building(
    saved: tuple[Path, nn.Module], tmp_path: Path
) -> None:
    hostile = _with_config(saved[0], tmp_path, embed_dim=16)
    with pytest.raises(
        CheckpointMismatchError, match=r"does not have the weights it holds"
    ) as caught:
        load_checkpoint(hostile)
    assert caught.value.differences["head.weight"] == ((3, 8), (3, 16))


def test_a_checkpoint_above_the_element_limit_is_refused(saved: tuple[Path, nn.Module]) -> None:
    with pytest.raises(CheckpointError, match="holds 683 weight elements, above the limit of 10"):
        load_checkpoint(saved[0], max_elements=10)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("afnonet_tiny", {**TINY, "mixer": "afno", "drop_path_rate": 0.1}),
        ("afnonet_tiny", {**TINY, "mixer": "attention", "mixer_kwargs": {"num_heads": 2}}),
        ("afnonet_tiny", {**TINY, "mixer": "gfn", "mixer_kwargs": {}}),
        ("afnonet_tiny", {**TINY, "mixer": "fno", "mixer_kwargs": {}}),
        (
            "afno_segformer_b0",
            {"num_classes": 3, "img_size": 32, "embed_dims": (8, 8, 8, 8), "depths": (1, 1, 1, 1),
             "decoder_dim": 8, "mixer_kwargs": {"num_blocks": 2}},
        ),
    ],
)  # fmt: skip
def test_the_dry_build_sees_the_shapes_of_the_real_model(
    name: str, config: dict[str, object], tmp_path: Path
) -> None:
    from afno.training.build_guard import dry_build

    model = create_model(name, **config, seed=0)
    real = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    held = sum(v.numel() for v in model.state_dict().values())
    assert (
        dry_build(lambda: create_model(name, **config), max_tensors=len(real), max_elements=held)
        == real
    )
    path = save_checkpoint(tmp_path / "model.pt", model)
    restored = load_checkpoint(path).model
    assert all(
        torch.equal(a, b)
        for a, b in zip(restored.state_dict().values(), model.state_dict().values(), strict=True)
    )


def test_the_registration_budget_stops_a_real_build_early() -> None:
    from afno.training.build_guard import ModelTooLargeError, registration_budget

    with (
        registration_budget(max_tensors=10, max_elements=100),
        pytest.raises(ModelTooLargeError, match=r"at Linear.weight, shape \(1000, 1000\)"),
    ):
        nn.Linear(1000, 1000)
    # Outside the block nothing is counted.
    assert nn.Linear(1000, 1000).weight.shape == (1000, 1000)
