"""Procedural street scenes: determinism, ground truth and masks that agree with the pixels."""

from __future__ import annotations

import numpy as np
import pytest

from abae.datasets.street_scenes import (
    GREEN,
    LIGHT_STATES,
    RED,
    SEGMENTATION_CLASSES,
    YELLOW,
    StreetSceneConfig,
    StreetScenes,
    generate_street_scenes,
)

CAR = SEGMENTATION_CLASSES.index("car")
LIGHT = SEGMENTATION_CLASSES.index("light")
HOUSING = SEGMENTATION_CLASSES.index("light_housing")
SMALL = StreetSceneConfig(height=96, width=128, clip_length=50)


@pytest.fixture(scope="module")
def scenes() -> StreetScenes:
    return generate_street_scenes(300, rng=7, config=SMALL)


def test_same_seed_same_frames_and_truth() -> None:
    first = generate_street_scenes(40, rng=3, config=SMALL)
    second = generate_street_scenes(40, rng=np.random.default_rng(3), config=SMALL)
    other = generate_street_scenes(40, rng=4, config=SMALL)
    a, b = first.render(np.arange(40)), second.render(np.arange(40))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(first.car_counts, second.car_counts)
    np.testing.assert_array_equal(first.light_states, second.light_states)
    assert not np.array_equal(a.images, other.render(np.arange(40)).images)


def test_rendering_does_not_depend_on_batching(scenes: StreetScenes) -> None:
    together = scenes.render(np.arange(70))
    apart = scenes.render(np.array([65, 3]))
    np.testing.assert_array_equal(apart.images, together.images[[65, 3]])
    np.testing.assert_array_equal(scenes.frames[10:13], together.images[10:13])
    np.testing.assert_array_equal(scenes.frames[-300], together.images[0])


def test_shapes_dtypes_and_default_size() -> None:
    default = generate_street_scenes(2, rng=0)
    drawn = default.render(np.arange(2))
    assert drawn.images.shape == (2, 256, 256, 3)
    assert drawn.images.dtype == np.uint8
    assert drawn.masks.shape == (2, 256, 256)
    assert drawn.masks.dtype == np.uint8
    assert default.frames.shape == (2, 256, 256, 3)
    assert drawn.masks.max() < len(SEGMENTATION_CLASSES)


def test_lit_lamp_colour_matches_the_light_state(scenes: StreetScenes) -> None:
    drawn = scenes.render(np.arange(len(scenes)))
    expected = {RED: (True, False), YELLOW: (True, True), GREEN: (False, True)}
    for frame in range(len(scenes)):
        lit = drawn.masks[frame] == LIGHT
        assert lit.sum() > 0
        red, green, _ = drawn.images[frame][lit].mean(axis=0)
        state = int(scenes.light_states[frame])
        assert (red > 150, green > 150) == expected[state], LIGHT_STATES[state]


def test_the_light_is_small(scenes: StreetScenes) -> None:
    drawn = scenes.render(np.arange(50))
    light_share = np.isin(drawn.masks, [LIGHT, HOUSING]).mean(axis=(1, 2))
    assert light_share.max() < 0.01


def test_car_pixels_exist_exactly_when_cars_do(scenes: StreetScenes) -> None:
    drawn = scenes.render(np.arange(len(scenes)))
    car_pixels = (drawn.masks == CAR).sum(axis=(1, 2))
    assert np.all((car_pixels > 0) == (scenes.car_counts > 0))
    assert scenes.car_counts.max() <= SMALL.max_cars
    # More cars on average means more car pixels on average.
    many, few = scenes.car_counts >= 5, scenes.car_counts <= 1
    assert car_pixels[many].mean() > car_pixels[few].mean()


def test_light_cycles_red_green_yellow_within_clips() -> None:
    scenes = generate_street_scenes(2000, rng=1, config=SMALL)
    states, clips = scenes.light_states, scenes.layout.clip_ids
    change = np.flatnonzero((np.diff(states) != 0) & (np.diff(clips) == 0))
    successor = {RED: GREEN, GREEN: YELLOW, YELLOW: RED}
    assert change.size > 50
    for at in change:
        assert states[at + 1] == successor[int(states[at])]
    assert 0.15 < scenes.has_red_light.mean() < 0.5


def test_more_cars_wait_at_a_red_light() -> None:
    scenes = generate_street_scenes(2000, rng=2, config=SMALL)
    red = scenes.has_red_light
    assert scenes.car_counts[red].mean() > scenes.car_counts[~red].mean() + 1.0


def test_oracle_is_exact() -> None:
    scenes = generate_street_scenes(100, rng=5, config=SMALL)
    oracle = scenes.oracle(latency_s=0.0)
    indices = np.array([99, 0, 42])
    has_red, count = oracle(indices)
    np.testing.assert_array_equal(has_red, scenes.light_states[indices] == RED)
    np.testing.assert_array_equal(count, scenes.car_counts[indices])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"height": 32}, "at least 64"),
        ({"max_cars": 0}, "max_cars"),
        ({"red_frames": (5, 2)}, "red_frames"),
        ({"light_height_fraction": 0.5}, "light_height_fraction"),
        ({"mean_cars_red": -1.0}, "mean car counts"),
    ],
)
def test_bad_config_is_explained(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StreetSceneConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_frame_indices_are_named(scenes: StreetScenes) -> None:
    with pytest.raises(ValueError, match=r"\[300\] are outside 0..299"):
        scenes.render(np.array([0, 300]))
    with pytest.raises(ValueError, match="1-D integer"):
        scenes.render(np.array([0.5]))
    with pytest.raises(ValueError, match="n_frames"):
        generate_street_scenes(0, rng=0)
