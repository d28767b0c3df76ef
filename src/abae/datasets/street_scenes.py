"""Procedural high-resolution "street scenes": cars and a small traffic light.

Each frame (256×256 RGB by default, any size from 64 up) shows a road in
perspective, 0 to ``max_cars`` cars (coloured bodies with a cabin, a window, red
tail lights and wheels; nearer cars occlude farther ones) and a traffic light on
a pole whose state cycles red → green → yellow over the frames of a clip. The
ground truth per frame is known exactly: the light's state, the car count, and a
per-pixel segmentation mask (:data:`SEGMENTATION_CLASSES`).

The light is small (15×6 pixels at 256×256) and red tail lights and red cars
appear everywhere, so a proxy must read the light's few high-resolution pixels
to tell a red light.

Example:
    >>> scenes = generate_street_scenes(1000, rng=0)
    >>> batch = scenes.render(np.arange(8))
    >>> batch.images.shape, batch.masks.shape
    ((8, 256, 256, 3), (8, 256, 256))
    >>> oracle = scenes.oracle(latency_s=0.01)
    >>> has_red_light, car_count = oracle(np.array([3, 14]))
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike, NDArray

from abae.datasets.ground_truth_oracle import GroundTruthOracle
from abae.datasets.street_scene_layout import (
    GREEN,
    LIGHT_STATES,
    RED,
    YELLOW,
    StreetSceneConfig,
    StreetSceneLayout,
    sample_layout,
)
from abae.datasets.street_scene_raster import (
    SEGMENTATION_CLASSES,
    RenderedFrames,
    render_layout,
)

__all__ = [
    "GREEN",
    "LIGHT_STATES",
    "RED",
    "SEGMENTATION_CLASSES",
    "YELLOW",
    "RenderedFrames",
    "StreetSceneConfig",
    "StreetSceneFrames",
    "StreetScenes",
    "generate_street_scenes",
]

RENDER_CHUNK = 32
"""Frames drawn per vectorised pass (bounds the temporary memory of rendering)."""


class StreetScenes:
    """A sequence of street-scene frames with exact ground truth, drawn on demand.

    Build it with :func:`generate_street_scenes`. Frames are rendered lazily
    from a sampled layout, so a large set costs little memory until drawn and a
    frame always renders to the same pixels.
    """

    def __init__(self, layout: StreetSceneLayout, config: StreetSceneConfig) -> None:
        self.layout = layout
        self.config = config

    def __len__(self) -> int:
        return len(self.layout)

    @property
    def light_states(self) -> NDArray[np.int8]:
        """int8 (N,): the light's state per frame, indexing :data:`LIGHT_STATES`."""
        return self.layout.light_states

    @property
    def car_counts(self) -> NDArray[np.int64]:
        """int64 (N,): how many cars each frame shows (occluded ones included)."""
        return self.layout.car_counts

    @property
    def has_red_light(self) -> NDArray[np.bool_]:
        """bool (N,): whether the light is red in each frame."""
        red: NDArray[np.bool_] = self.layout.light_states == RED
        return red

    @property
    def frames(self) -> StreetSceneFrames:
        """The RGB frames as a lazy array-like: ``len()`` and ``frames[a:b]`` → (n, H, W, 3)."""
        return StreetSceneFrames(self)

    def _indices(self, indices: ArrayLike) -> NDArray[np.int64]:
        index_array = np.asarray(indices)
        if index_array.ndim != 1 or (
            index_array.size and not np.issubdtype(index_array.dtype, np.integer)
        ):
            raise ValueError(
                f"frame indices must be a 1-D integer array, got {index_array.dtype} "
                f"{index_array.shape}"
            )
        index_array = index_array.astype(np.int64, copy=False)
        bad = (index_array < 0) | (index_array >= len(self))
        if np.any(bad):
            raise ValueError(
                f"frame indices {index_array[bad][:5].tolist()} are outside 0..{len(self) - 1}"
            )
        return index_array

    def render(self, indices: ArrayLike) -> RenderedFrames:
        """Draw frames by index: images uint8 (n, H, W, 3) and masks uint8 (n, H, W)."""
        index_array = self._indices(indices)
        height, width = self.config.height, self.config.width
        images = np.empty((index_array.size, height, width, 3), dtype=np.uint8)
        masks = np.empty((index_array.size, height, width), dtype=np.uint8)
        for start in range(0, index_array.size, RENDER_CHUNK):
            chunk = index_array[start : start + RENDER_CHUNK]
            drawn = render_layout(self.layout.take(chunk), self.config)
            images[start : start + chunk.size] = drawn.images
            masks[start : start + chunk.size] = drawn.masks
        return RenderedFrames(images=images, masks=masks)

    def iter_batches(
        self, batch_size: int = 256
    ) -> Iterator[tuple[NDArray[np.int64], RenderedFrames]]:
        """Yield (indices, frames) for consecutive batches covering every frame once."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        for start in range(0, len(self), batch_size):
            indices = np.arange(start, min(start + batch_size, len(self)), dtype=np.int64)
            yield indices, self.render(indices)

    def oracle(self, latency_s: float = 0.05) -> GroundTruthOracle:
        """The exact, slow oracle: ``oracle(indices) -> (has_red_light, car_count)``.

        It reads the ground truth (no vision involved) and sleeps ``latency_s``
        seconds per frame to stand in for a large detector.
        """
        return GroundTruthOracle(
            self.has_red_light,
            self.car_counts.astype(np.float64),
            latency_s=latency_s,
            name="has_red_light",
        )


class StreetSceneFrames:
    """Array-like view of the RGB frames: ``len(view)``, ``view[i]``, ``view[a:b]``, ``view[idx]``.

    Indexing renders the frames asked for (uint8 (n, H, W, 3), or (H, W, 3) for an int).
    """

    def __init__(self, scenes: StreetScenes) -> None:
        self._scenes = scenes

    def __len__(self) -> int:
        return len(self._scenes)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        config = self._scenes.config
        return (len(self._scenes), config.height, config.width, 3)

    def __getitem__(self, key: int | slice | ArrayLike) -> NDArray[np.uint8]:
        if isinstance(key, int | np.integer):
            index = int(key) + len(self) if key < 0 else int(key)
            frame: NDArray[np.uint8] = self._scenes.render(np.array([index])).images[0]
            return frame
        if isinstance(key, slice):
            return self._scenes.render(np.arange(len(self))[key]).images
        return self._scenes.render(key).images


def generate_street_scenes(
    n_frames: int,
    *,
    rng: np.random.Generator | int,
    config: StreetSceneConfig | None = None,
) -> StreetScenes:
    """Sample ``n_frames`` street-scene frames (drawn lazily) from a generator or a seed.

    The same seed and config always give the same frames, ground truth and masks.
    """
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    scene_config = config if config is not None else StreetSceneConfig()
    return StreetScenes(sample_layout(n_frames, scene_config, generator), scene_config)
