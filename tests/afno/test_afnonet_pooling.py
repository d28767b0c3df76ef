"""AFNONet's global_pool option: mean (default) or max over the token grid."""

from __future__ import annotations

import pytest
import torch

import afno
from afno.models.afnonet import AFNONet


def _model(pool: str) -> AFNONet:
    torch.manual_seed(0)
    return AFNONet(
        img_size=16,
        patch_size=4,
        in_chans=1,
        num_classes=3,
        embed_dim=16,
        depth=1,
        global_pool=pool,
    ).eval()


def test_max_pool_is_the_token_maximum_and_mean_the_default() -> None:
    images = torch.randn(2, 1, 16, 16)
    model = _model("max")
    tokens = model.forward_features(images)
    expected = model.head(tokens.flatten(1, 2).max(dim=1).values)
    torch.testing.assert_close(model(images), expected)
    default = AFNONet(img_size=16, patch_size=4, in_chans=1, num_classes=3, embed_dim=16, depth=1)
    assert default.config["global_pool"] == "mean"
    mean_model = _model("mean")
    mean_tokens = mean_model.forward_features(images)
    torch.testing.assert_close(mean_model(images), mean_model.head(mean_tokens.mean(dim=(1, 2))))


def test_max_pool_keeps_a_single_token_signal_that_mean_pool_dilutes() -> None:
    # A change confined to one of the 16 patches moves the max-pooled features as
    # much as that token moves, but the mean-pooled ones by only 1/16 of it.
    images = torch.zeros(1, 1, 16, 16)
    bright = images.clone()
    bright[..., :4, :4] = 50.0
    model = _model("max")
    with torch.no_grad():
        before, after = model.forward_features(images), model.forward_features(bright)
    max_shift = (after.amax(dim=(1, 2)) - before.amax(dim=(1, 2))).abs().max()
    mean_shift = (after.mean(dim=(1, 2)) - before.mean(dim=(1, 2))).abs().max()
    assert max_shift > 2 * mean_shift


def test_pooling_is_checked_saved_and_passed_through_the_registry(tmp_path) -> None:
    with pytest.raises(ValueError, match="global_pool must be one of"):
        AFNONet(img_size=16, patch_size=4, global_pool="sum")
    model = afno.create_model(
        "afnonet_tiny",
        img_size=16,
        patch_size=4,
        in_chans=1,
        num_classes=2,
        seed=0,
        global_pool="max",
    )
    assert model.config["global_pool"] == "max"
    path = afno.save_checkpoint(tmp_path / "m.pt", model)
    loaded = afno.load_checkpoint(path).model
    assert loaded.config["global_pool"] == "max"
    images = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(loaded.eval()(images), model.eval()(images))
