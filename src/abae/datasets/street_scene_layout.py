"""What is in each street-scene frame: road, traffic light, buildings, cars.

Sampling a layout is cheap (a few arrays per frame); drawing pixels is done
separately by :mod:`abae.datasets.street_scene_raster`, so frames can be
rendered lazily, in any order and any number of times, always identically.

Frames come in clips of ``clip_length`` frames seen by one fixed camera: the
road geometry, the traffic light's position and the buildings stay put within a
clip while the light cycles red → green → yellow → red with random phase lengths
and the cars change from frame to frame. More cars wait while the light is red,
so the car count depends on the predicate "the light is red".

All coordinates are integer pixels (rows ``y``, columns ``x``); boxes are
half-open ``[y0, y1) × [x0, x1)`` and may reach outside the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

LIGHT_STATES = ("red", "yellow", "green")
"""Traffic-light states; ``light_states`` arrays hold indices into this tuple."""
RED, YELLOW, GREEN = 0, 1, 2
MAX_BUILDINGS = 3


@dataclass(frozen=True)
class StreetSceneConfig:
    """How street scenes look and behave.

    Args:
        height, width: frame size in pixels (at least 64; 256 or more is the intended use).
        max_cars: most cars in one frame.
        clip_length: frames per clip (one camera, one road, one traffic light).
        mean_cars_red: mean car count (Poisson, capped at ``max_cars``) while the light is red.
        mean_cars_not_red: mean car count while it is yellow or green.
        red_frames, yellow_frames, green_frames: inclusive (min, max) length of a light
            phase in frames, drawn uniformly.
        light_height_fraction: height of the traffic-light housing as a fraction of the
            frame height (0.06 gives 15 px at 256 px: the light is small, so a proxy has to
            read high-resolution pixels to see its colour).
    """

    height: int = 256
    width: int = 256
    max_cars: int = 10
    clip_length: int = 200
    mean_cars_red: float = 5.0
    mean_cars_not_red: float = 2.5
    red_frames: tuple[int, int] = (15, 30)
    yellow_frames: tuple[int, int] = (4, 8)
    green_frames: tuple[int, int] = (30, 60)
    light_height_fraction: float = 0.06

    def __post_init__(self) -> None:
        if self.height < 64 or self.width < 64:
            raise ValueError(
                f"street scenes need frames of at least 64×64 pixels, got {self.height}×{self.width}"
            )
        if self.max_cars < 1:
            raise ValueError(f"max_cars must be at least 1, got {self.max_cars}")
        if self.clip_length < 1:
            raise ValueError(f"clip_length must be at least 1, got {self.clip_length}")
        if self.mean_cars_red < 0 or self.mean_cars_not_red < 0:
            raise ValueError(
                "mean car counts must be >= 0, got "
                f"mean_cars_red={self.mean_cars_red}, mean_cars_not_red={self.mean_cars_not_red}"
            )
        for name in ("red_frames", "yellow_frames", "green_frames"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ValueError(
                    f"{name} must be (min, max) with 1 <= min <= max, got {(low, high)}"
                )
        if not 0.02 <= self.light_height_fraction <= 0.2:
            raise ValueError(
                f"light_height_fraction must be in [0.02, 0.2], got {self.light_height_fraction}"
            )


@dataclass(frozen=True)
class Boxes:
    """Integer boxes ``[y0, y1) × [x0, x1)``; each field int32 of shape (N, K)."""

    y0: NDArray[np.int32]
    y1: NDArray[np.int32]
    x0: NDArray[np.int32]
    x1: NDArray[np.int32]

    def take(self, frames: NDArray[np.int64]) -> Boxes:
        return Boxes(*(getattr(self, f.name)[frames] for f in fields(self)))


@dataclass(frozen=True)
class Discs:
    """Integer discs: centre ``(cy, cx)`` and ``radius``; each field int32 of shape (N, K)."""

    cy: NDArray[np.int32]
    cx: NDArray[np.int32]
    radius: NDArray[np.int32]

    def take(self, frames: NDArray[np.int64]) -> Discs:
        return Discs(*(getattr(self, f.name)[frames] for f in fields(self)))


@dataclass(frozen=True)
class StreetSceneLayout:
    """Everything drawn in N frames (per-frame arrays; M = ``max_cars`` car slots).

    Car slots are sorted far to near, so drawing them in slot order lets nearer
    cars occlude farther ones. Empty slots have empty boxes and zero-radius wheels.
    Colours are float32 RGB in 0..255.
    """

    clip_ids: NDArray[np.int64]  # (N,)
    light_states: NDArray[np.int8]  # (N,) indices into LIGHT_STATES
    car_counts: NDArray[np.int64]  # (N,)
    brightness: NDArray[np.float32]  # (N,) global illumination factor
    horizon: NDArray[np.int32]  # (N,) first row below the sky
    road_center: NDArray[np.float32]  # (N, 2) road centre column at the horizon and bottom
    road_half_width: NDArray[np.float32]  # (N, 2) road half width at the horizon and bottom
    sky_colors: NDArray[np.float32]  # (N, 2, 3) top and horizon sky colour
    ground_color: NDArray[np.float32]  # (N, 3)
    road_color: NDArray[np.float32]  # (N, 3)
    buildings: Boxes  # (N, MAX_BUILDINGS)
    building_colors: NDArray[np.float32]  # (N, MAX_BUILDINGS, 3)
    pole: Boxes  # (N, 1)
    housing: Boxes  # (N, 1)
    lamps: Discs  # (N, 3): red, yellow, green from top to bottom
    car_colors: NDArray[np.float32]  # (N, M, 3)
    car_bodies: Boxes  # (N, M)
    car_cabins: Boxes  # (N, M)
    car_windows: Boxes  # (N, M)
    car_tail_lights: Boxes  # (N, 2M): left lights of all slots, then right lights
    car_wheels: Discs  # (N, 2M): left wheels of all slots, then right wheels

    def __len__(self) -> int:
        return int(self.clip_ids.shape[0])

    def take(self, frames: NDArray[np.int64]) -> StreetSceneLayout:
        """The layout of the given frames only (an int64 index array)."""
        picked: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            picked[field.name] = (
                value.take(frames) if isinstance(value, Boxes | Discs) else value[frames]
            )
        return StreetSceneLayout(**picked)


def _uniform(rng: np.random.Generator, low: float, high: float, size: int) -> NDArray[np.float64]:
    return rng.uniform(low, high, size)


def sample_light_states(
    n_frames: int, config: StreetSceneConfig, rng: np.random.Generator
) -> NDArray[np.int8]:
    """The light's state in each frame: a red → green → yellow cycle per clip.

    Each clip starts in a random state part-way through a random-length phase.
    Returns int8 (n_frames,) indices into :data:`LIGHT_STATES`.
    """
    next_state = {RED: GREEN, GREEN: YELLOW, YELLOW: RED}
    phase_frames = {
        RED: config.red_frames,
        YELLOW: config.yellow_frames,
        GREEN: config.green_frames,
    }
    states = np.empty(n_frames, dtype=np.int8)
    for clip_start in range(0, n_frames, config.clip_length):
        clip_end = min(clip_start + config.clip_length, n_frames)
        state = int(rng.integers(3))
        low, high = phase_frames[state]
        position = clip_start - int(rng.integers(0, int(rng.integers(low, high + 1))))
        while position < clip_end:
            low, high = phase_frames[state]
            length = int(rng.integers(low, high + 1))
            states[max(position, clip_start) : min(position + length, clip_end)] = state
            position += length
            state = next_state[state]
    return states


def _clip_scene(
    n_clips: int, config: StreetSceneConfig, rng: np.random.Generator
) -> dict[str, NDArray[np.float64]]:
    """Per-clip camera and static scenery, as float arrays with a leading clip axis."""
    height, width = config.height, config.width
    horizon = np.round(_uniform(rng, 0.38, 0.5, n_clips) * height)
    bottom_center = _uniform(rng, 0.4, 0.6, n_clips) * width
    top_center = bottom_center + _uniform(rng, -0.1, 0.1, n_clips) * width
    bottom_half = _uniform(rng, 0.35, 0.48, n_clips) * width
    top_half = _uniform(rng, 0.02, 0.05, n_clips) * width

    housing_h = max(6.0, round(config.light_height_fraction * height))
    housing_w = max(3.0, round(0.4 * housing_h))
    light_y0 = np.round(_uniform(rng, 0.06, 1.0, n_clips) * (horizon - housing_h - 0.12 * height))
    light_y0 += round(0.04 * height)
    light_x0 = np.round(_uniform(rng, 0.04, 0.96, n_clips) * width - housing_w / 2)

    building_x0 = np.round(rng.uniform(-0.1, 0.9, (n_clips, MAX_BUILDINGS)) * width)
    building_w = np.round(rng.uniform(0.08, 0.3, (n_clips, MAX_BUILDINGS)) * width)
    building_top = horizon[:, None] * rng.uniform(0.25, 0.85, (n_clips, MAX_BUILDINGS))
    has_building = rng.random((n_clips, MAX_BUILDINGS)) < 0.6

    return {
        "horizon": horizon,
        "road_center": np.stack([top_center, bottom_center], axis=1),
        "road_half_width": np.stack([top_half, bottom_half], axis=1),
        "sky_colors": np.stack(
            [rng.uniform(60, 140, (n_clips, 3)), rng.uniform(150, 235, (n_clips, 3))], axis=1
        ),
        "ground_color": rng.uniform(50, 130, (n_clips, 3)),
        "road_color": np.repeat(rng.uniform(70, 115, (n_clips, 1)), 3, axis=1),
        "light_y0": light_y0,
        "light_x0": light_x0,
        "housing_size": np.array([housing_h, housing_w]),
        "building_y0": np.round(building_top),
        "building_x0": building_x0,
        "building_x1": np.where(has_building, building_x0 + building_w, building_x0),
        "building_colors": rng.uniform(40, 230, (n_clips, MAX_BUILDINGS, 3)),
    }


def _car_boxes(
    count: NDArray[np.int64],
    horizon: NDArray[np.float64],
    road_center: NDArray[np.float64],
    road_half_width: NDArray[np.float64],
    config: StreetSceneConfig,
    rng: np.random.Generator,
) -> dict[str, NDArray[np.float64]]:
    """Car placement in perspective: farther cars sit higher and are smaller.

    Returns float arrays (N, M): bottom row ``y1``, width ``w``, height ``h``,
    left column ``x0``; slots sorted far to near, empty slots of zero size.
    """
    n, m = count.shape[0], config.max_cars
    # depth: 0 at the horizon, 1 at the bottom; the first `count` slots hold cars, then
    # sorting by depth (empty slots first) puts them in far-to-near drawing order.
    drawn = np.where(np.arange(m)[None, :] < count[:, None], rng.uniform(0.15, 1.0, (n, m)), -1.0)
    drawn.sort(axis=1)
    present = drawn >= 0
    depth = np.where(present, drawn, 0.5)
    below = config.height - horizon[:, None]
    y1 = horizon[:, None] + depth * below
    center = road_center[:, :1] + (road_center[:, 1:] - road_center[:, :1]) * depth
    half = road_half_width[:, :1] + (road_half_width[:, 1:] - road_half_width[:, :1]) * depth
    w = np.maximum(4.0, 2 * half * rng.uniform(0.22, 0.32, (n, m)))
    h = np.maximum(3.0, w * rng.uniform(0.55, 0.75, (n, m)))
    offset = rng.uniform(-1.0, 1.0, (n, m)) * np.maximum(half - w / 2, 0.0)
    x0 = center + offset - w / 2
    zero = np.zeros_like(w)
    return {
        "y1": np.where(present, np.round(y1), zero),
        "w": np.where(present, np.round(w), zero),
        "h": np.where(present, np.round(h), zero),
        "x0": np.where(present, np.round(x0), zero),
    }


def _i32(values: NDArray[np.float64]) -> NDArray[np.int32]:
    return np.round(values).astype(np.int32)


def _car_parts(
    car: dict[str, NDArray[np.float64]],
) -> tuple[Boxes, Boxes, Boxes, Boxes, Discs]:
    """Body, cabin, window, tail lights and wheels of each car from its box."""
    y1, w, h, x0 = car["y1"], car["w"], car["h"], car["x0"]
    y0, x1 = y1 - h, x0 + w
    body = Boxes(_i32(y0 + 0.4 * h), _i32(y1 - 0.15 * h), _i32(x0), _i32(x1))
    cabin = Boxes(_i32(y0), _i32(y0 + 0.4 * h), _i32(x0 + 0.15 * w), _i32(x1 - 0.15 * w))
    window = Boxes(
        _i32(y0 + 0.08 * h), _i32(y0 + 0.38 * h), _i32(x0 + 0.22 * w), _i32(x1 - 0.22 * w)
    )
    tail_y0, tail_y1 = _i32(y0 + 0.45 * h), _i32(y0 + 0.6 * h)
    tails = Boxes(
        np.concatenate([tail_y0, tail_y0], axis=1),
        np.concatenate([tail_y1, tail_y1], axis=1),
        np.concatenate([_i32(x0), _i32(x1 - 0.12 * w)], axis=1),
        np.concatenate([_i32(x0 + 0.12 * w), _i32(x1)], axis=1),
    )
    wheel_y = _i32(y1 - 0.18 * h)
    radius = _i32(0.17 * h)
    wheels = Discs(
        np.concatenate([wheel_y, wheel_y], axis=1),
        np.concatenate([_i32(x0 + 0.22 * w), _i32(x1 - 0.22 * w)], axis=1),
        np.concatenate([radius, radius], axis=1),
    )
    return body, cabin, window, tails, wheels


def sample_layout(
    n_frames: int, config: StreetSceneConfig, rng: np.random.Generator
) -> StreetSceneLayout:
    """Sample the content of ``n_frames`` frames (no pixels yet)."""
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    n_clips = -(-n_frames // config.clip_length)
    clip_ids = np.arange(n_frames, dtype=np.int64) // config.clip_length
    scene = _clip_scene(n_clips, config, rng)
    per_frame = {k: v[clip_ids] for k, v in scene.items() if k != "housing_size"}
    housing_h, housing_w = (float(v) for v in scene["housing_size"])

    light_states = sample_light_states(n_frames, config, rng)
    means = np.where(light_states == RED, config.mean_cars_red, config.mean_cars_not_red)
    car_counts = np.minimum(rng.poisson(means), config.max_cars).astype(np.int64)
    car = _car_boxes(
        car_counts,
        per_frame["horizon"],
        per_frame["road_center"],
        per_frame["road_half_width"],
        config,
        rng,
    )
    bodies, cabins, windows, tail_lights, wheels = _car_parts(car)
    car_colors = rng.uniform(20, 245, (n_frames, config.max_cars, 3))
    brightness = rng.uniform(0.85, 1.15, n_frames)

    ly0, lx0 = per_frame["light_y0"][:, None], per_frame["light_x0"][:, None]
    pole_w = max(1.0, round(housing_w / 3))
    pole_x0 = lx0 + round((housing_w - pole_w) / 2)
    lamp_radius = max(1.0, round(housing_h / 7))
    lamp_rows = ly0 + housing_h * np.array([[1 / 6, 3 / 6, 5 / 6]]) - 0.5
    horizon = per_frame["horizon"]
    return StreetSceneLayout(
        clip_ids=clip_ids,
        light_states=light_states,
        car_counts=car_counts,
        brightness=brightness.astype(np.float32),
        horizon=_i32(horizon),
        road_center=per_frame["road_center"].astype(np.float32),
        road_half_width=per_frame["road_half_width"].astype(np.float32),
        sky_colors=per_frame["sky_colors"].astype(np.float32),
        ground_color=per_frame["ground_color"].astype(np.float32),
        road_color=per_frame["road_color"].astype(np.float32),
        buildings=Boxes(
            _i32(per_frame["building_y0"]),
            _i32(np.repeat(horizon[:, None], MAX_BUILDINGS, axis=1)),
            _i32(per_frame["building_x0"]),
            _i32(per_frame["building_x1"]),
        ),
        building_colors=per_frame["building_colors"].astype(np.float32),
        pole=Boxes(
            _i32(ly0 + housing_h),
            _i32(horizon[:, None] + round(0.04 * config.height)),
            _i32(pole_x0),
            _i32(pole_x0 + pole_w),
        ),
        housing=Boxes(_i32(ly0), _i32(ly0 + housing_h), _i32(lx0), _i32(lx0 + housing_w)),
        lamps=Discs(
            _i32(lamp_rows),
            _i32(np.repeat(lx0 + (housing_w - 1) / 2, 3, axis=1)),
            np.full((n_frames, 3), lamp_radius, dtype=np.int32),
        ),
        car_colors=car_colors.astype(np.float32),
        car_bodies=bodies,
        car_cabins=cabins,
        car_windows=windows,
        car_tail_lights=tail_lights,
        car_wheels=wheels,
    )
