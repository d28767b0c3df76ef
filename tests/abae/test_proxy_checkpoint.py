"""Proxy checkpoints: round trip, and clear errors for files that are not this proxy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import afno
from abae.proxy import (
    ImageSpec,
    Proxy,
    ProxyCheckpointError,
    load_proxy,
    save_proxy,
    train_proxy,
)
from numerics import assert_same_path


@pytest.fixture(scope="module")
def trained() -> tuple[Proxy, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (80, 12, 12, 3), dtype=np.uint8)
    labels = images[:, :6].mean(axis=(1, 2, 3)) > images[:, 6:].mean(axis=(1, 2, 3))
    proxy = train_proxy(
        images,
        labels,
        epochs=4,
        batch_size=16,
        model_kwargs={"embed_dim": 16, "depth": 1},
        progress=False,
        name="toy_proxy",
    )
    return proxy, images


def test_round_trip_gives_identical_scores(
    trained: tuple[Proxy, np.ndarray], tmp_path: Path
) -> None:
    proxy, images = trained
    path = save_proxy(tmp_path / "toy.pt", proxy)
    loaded = load_proxy(path, expected_spec=ImageSpec(12, 12, 3))
    assert loaded.name == "toy_proxy"
    assert loaded.task == "classify"
    assert loaded.spec == proxy.spec
    assert loaded.calibration == proxy.calibration
    assert loaded.metadata == proxy.metadata
    assert not loaded.network.training
    assert_same_path(loaded.score_batch(images), proxy.score_batch(images))


def test_regressor_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (40, 8, 8), dtype=np.uint8)
    proxy = train_proxy(
        images,
        images.mean(axis=(1, 2)),
        task="regress",
        epochs=1,
        model_kwargs={"embed_dim": 16, "depth": 1},
        progress=False,
    )
    loaded = load_proxy(save_proxy(tmp_path / "reg.pt", proxy))
    assert loaded.target_scale == proxy.target_scale
    assert_same_path(loaded.score_batch(images), proxy.score_batch(images))


def test_proxy_for_other_images_is_refused(
    trained: tuple[Proxy, np.ndarray], tmp_path: Path
) -> None:
    path = save_proxy(tmp_path / "toy.pt", trained[0])
    with pytest.raises(ProxyCheckpointError, match=r"toy\.pt reads 12×12 RGB images .* 28×28 L"):
        load_proxy(path, expected_spec=ImageSpec(28, 28, 1))


def test_plain_afno_checkpoint_is_not_a_proxy(tmp_path: Path) -> None:
    model = afno.create_model("afnonet_tiny", img_size=8, patch_size=4, in_chans=1, num_classes=1)
    path = afno.save_checkpoint(tmp_path / "plain.pt", model)
    with pytest.raises(
        ProxyCheckpointError, match=r"plain\.pt is an afno checkpoint but not an abae proxy"
    ):
        load_proxy(path)


def test_damaged_proxy_metadata_is_named(tmp_path: Path) -> None:
    model = afno.create_model("afnonet_tiny", img_size=8, patch_size=4, in_chans=1, num_classes=1)
    metadata = {"abae_proxy": {"version": 1, "task": "classify", "image_spec": {"height": 8}}}
    path = afno.save_checkpoint(tmp_path / "damaged.pt", model, metadata=metadata)
    with pytest.raises(ProxyCheckpointError, match=r"damaged\.pt holds damaged proxy metadata"):
        load_proxy(path)


def test_corrupt_and_truncated_files_are_named(
    trained: tuple[Proxy, np.ndarray], tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint")
    with pytest.raises(ValueError, match=r"garbage\.pt"):
        load_proxy(garbage)
    path = save_proxy(tmp_path / "cut.pt", trained[0])
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut\.pt"):
        load_proxy(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        load_proxy(tmp_path / "missing.pt")


def test_loading_runs_no_pickled_code(trained: tuple[Proxy, np.ndarray], tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "afno.checkpoint", "payload": ImageSpec(1, 1, 1)}, path)
    with pytest.raises(ValueError, match=r"evil\.pt"):
        load_proxy(path)


def test_every_candidate_kind_round_trips(tmp_path: Path) -> None:
    from abae.proxy import select_proxy

    rng = np.random.default_rng(3)
    images = rng.integers(0, 60, (40, 8, 8), dtype=np.uint8)
    labels = np.arange(40) % 2 == 0
    images[labels, :4] = 250
    proxy = select_proxy(images, labels, candidates=("pixels_logistic",), name="cheap").proxy
    loaded = load_proxy(save_proxy(tmp_path / "cheap.pt", proxy), expected_spec=ImageSpec(8, 8, 1))
    assert type(loaded.network).__name__ == "PixelLinearNetwork"
    assert loaded.metadata["candidate"] == "pixels_logistic"
    assert_same_path(loaded.score_batch(images), proxy.score_batch(images))


def _rewritten(path: Path, target: Path, change: object) -> Path:
    payload = torch.load(path, weights_only=True)
    change(payload)  # type: ignore[operator]
    torch.save(payload, target)
    return target


def test_hostile_image_specs_and_configs_are_refused(
    trained: tuple[Proxy, np.ndarray], tmp_path: Path
) -> None:
    path = save_proxy(tmp_path / "toy.pt", trained[0])

    def huge_spec(payload: dict) -> None:  # type: ignore[type-arg]
        payload["metadata"]["abae_proxy"]["image_spec"]["height"] = 10**9

    def other_spec(payload: dict) -> None:  # type: ignore[type-arg]
        payload["metadata"]["abae_proxy"]["image_spec"]["height"] = 24

    def huge_model(payload: dict) -> None:  # type: ignore[type-arg]
        payload["config"]["embed_dim"] = 65536
        payload["config"]["depth"] = 64

    with pytest.raises(
        ProxyCheckpointError, match=r"huge\.pt holds damaged proxy metadata.*exceeds"
    ):
        load_proxy(_rewritten(path, tmp_path / "huge.pt", huge_spec))
    with pytest.raises(ProxyCheckpointError, match=r"other\.pt is inconsistent: its network reads"):
        load_proxy(_rewritten(path, tmp_path / "other.pt", other_spec))
    with pytest.raises(ValueError, match=r"model\.pt is refused: its config .* larger model"):
        load_proxy(_rewritten(path, tmp_path / "model.pt", huge_model))


def test_a_hostile_pixel_linear_config_is_refused(tmp_path: Path) -> None:
    from abae.proxy import select_proxy

    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (30, 8, 8), dtype=np.uint8)
    proxy = select_proxy(images, np.arange(30) % 3 == 0, candidates=("pixels_logistic",)).proxy
    path = save_proxy(tmp_path / "cheap.pt", proxy)

    def huge_grid(payload: dict) -> None:  # type: ignore[type-arg]
        payload["config"]["grid"] = [10**6, 10**6]

    with pytest.raises(ProxyCheckpointError, match=r"grid\.pt holds a damaged network config"):
        load_proxy(_rewritten(path, tmp_path / "grid.pt", huge_grid))
