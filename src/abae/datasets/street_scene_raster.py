"""Draw street-scene layouts as RGB frames and per-pixel segmentation masks.

Drawing is vectorised over a batch of frames: each shape (a box or a disc per
frame) becomes one broadcast comparison over the whole batch. Every pixel first
gets a *material* (sky band, road, lamp lit red, car body of slot 3, ...), painted
back to front; one palette lookup then turns materials into colours and one
table lookup into segmentation classes. Rendering uses no randomness, so a frame
is the same whenever and in whatever batch it is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from abae.datasets.street_scene_layout import (
    LIGHT_STATES,
    MAX_BUILDINGS,
    Boxes,
    Discs,
    StreetSceneConfig,
    StreetSceneLayout,
)

SEGMENTATION_CLASSES = ("background", "road", "car", "light_housing", "light")
"""Classes of the segmentation masks; mask values index this tuple. ``light`` is the lit lamp."""
BACKGROUND, ROAD, CAR, LIGHT_HOUSING, LIGHT = range(5)

_SKY_BANDS = 16
_GROUND = _SKY_BANDS
_ROAD, _LANE, _POLE, _HOUSING = _GROUND + 1, _GROUND + 2, _GROUND + 3, _GROUND + 4
_LAMP_OFF = _HOUSING + 1  # red, yellow, green: three materials
_LAMP_ON = _LAMP_OFF + 3
_WINDOW = _LAMP_ON + 3
_WHEEL, _TAIL_LIGHT = _WINDOW + 1, _WINDOW + 2
_BUILDING = _TAIL_LIGHT + 1  # MAX_BUILDINGS materials
_CAR_BODY = _BUILDING + MAX_BUILDINGS  # one material per car slot

_FIXED_COLORS = {
    _LANE: (232, 232, 220),
    _POLE: (70, 70, 72),
    _HOUSING: (28, 28, 30),
    _LAMP_OFF + 0: (85, 25, 22),
    _LAMP_OFF + 1: (85, 70, 15),
    _LAMP_OFF + 2: (18, 70, 35),
    _LAMP_ON + 0: (255, 40, 30),
    _LAMP_ON + 1: (255, 205, 0),
    _LAMP_ON + 2: (40, 255, 100),
    _WINDOW: (150, 190, 215),
    _WHEEL: (22, 22, 22),
    _TAIL_LIGHT: (205, 25, 20),
}


@dataclass(frozen=True)
class RenderedFrames:
    """A batch of frames: ``images`` uint8 (B, H, W, 3) RGB, ``masks`` uint8 (B, H, W)
    with values indexing :data:`SEGMENTATION_CLASSES`."""

    images: NDArray[np.uint8]
    masks: NDArray[np.uint8]


def _material_classes(max_cars: int) -> NDArray[np.uint8]:
    classes = np.full(_CAR_BODY + max_cars, BACKGROUND, dtype=np.uint8)
    classes[[_ROAD, _LANE]] = ROAD
    classes[[_HOUSING, _LAMP_OFF, _LAMP_OFF + 1, _LAMP_OFF + 2]] = LIGHT_HOUSING
    classes[_LAMP_ON : _LAMP_ON + 3] = LIGHT
    classes[[_WINDOW, _WHEEL, _TAIL_LIGHT]] = CAR
    classes[_CAR_BODY:] = CAR
    return classes


def _palette(layout: StreetSceneLayout, max_cars: int) -> NDArray[np.uint8]:
    """Per-frame colour of every material: uint8 (B, n_materials, 3), brightness applied."""
    batch = len(layout)
    palette = np.zeros((batch, _CAR_BODY + max_cars, 3), dtype=np.float32)
    share = np.linspace(0.0, 1.0, _SKY_BANDS, dtype=np.float32)[None, :, None]
    top, low = layout.sky_colors[:, :1], layout.sky_colors[:, 1:]
    palette[:, :_SKY_BANDS] = top + (low - top) * share
    palette[:, _GROUND] = layout.ground_color
    palette[:, _ROAD] = layout.road_color
    for material, color in _FIXED_COLORS.items():
        palette[:, material] = color
    palette[:, _BUILDING : _BUILDING + MAX_BUILDINGS] = layout.building_colors
    palette[:, _CAR_BODY:] = layout.car_colors
    palette *= layout.brightness[:, None, None]
    return np.clip(np.rint(palette), 0, 255).astype(np.uint8)


def _paint_boxes(
    materials: NDArray[np.uint8],
    rows: NDArray[np.int32],
    cols: NDArray[np.int32],
    boxes: Boxes,
    material: int | NDArray[np.uint8],
) -> None:
    """Paint each column k of ``boxes`` (B, K) with ``material`` (an int or (B, 1, 1))."""
    for k in range(boxes.y0.shape[1]):
        y0, y1 = boxes.y0[:, k, None, None], boxes.y1[:, k, None, None]
        x0, x1 = boxes.x0[:, k, None, None], boxes.x1[:, k, None, None]
        if not np.any((y1 > y0) & (x1 > x0)):
            continue
        inside = ((rows >= y0) & (rows < y1)) & ((cols >= x0) & (cols < x1))
        np.copyto(materials, material, where=inside)


def _paint_discs(
    materials: NDArray[np.uint8],
    rows: NDArray[np.int32],
    cols: NDArray[np.int32],
    discs: Discs,
    material: int | NDArray[np.uint8],
) -> None:
    """Paint each column k of ``discs`` (B, K); radius r covers offsets with d² < r² + r."""
    for k in range(discs.cy.shape[1]):
        radius = discs.radius[:, k, None, None]
        if not np.any(radius > 0):
            continue
        dy = rows - discs.cy[:, k, None, None]
        dx = cols - discs.cx[:, k, None, None]
        np.copyto(materials, material, where=dy * dy + dx * dx < radius * radius + radius)


def _paint_road(
    materials: NDArray[np.uint8],
    rows: NDArray[np.int32],
    cols: NDArray[np.int32],
    layout: StreetSceneLayout,
    height: int,
) -> None:
    horizon = layout.horizon[:, None, None]
    depth = (rows - horizon) / (height - horizon).astype(np.float32)
    center = layout.road_center[:, :1, None] + np.diff(layout.road_center)[:, :, None] * depth
    half = layout.road_half_width[:, :1, None] + np.diff(layout.road_half_width)[:, :, None] * depth
    offset = np.abs(cols - center)
    below = rows >= horizon
    np.copyto(materials, np.uint8(_ROAD), where=below & (offset <= half))
    dash = max(2, height // 24)
    dashed = ((rows - horizon) // dash) % 2 == 0
    np.copyto(
        materials, np.uint8(_LANE), where=below & dashed & (offset <= np.maximum(0.6, half * 0.02))
    )


def _paint_materials(layout: StreetSceneLayout, config: StreetSceneConfig) -> NDArray[np.uint8]:
    """The material of every pixel: uint8 (B, H, W), drawn back to front."""
    batch, height, width = len(layout), config.height, config.width
    rows = np.arange(height, dtype=np.int32)[None, :, None]
    cols = np.arange(width, dtype=np.int32)[None, None, :]
    horizon = layout.horizon[:, None, None]
    sky_band = np.minimum(rows * _SKY_BANDS // horizon, _SKY_BANDS - 1).astype(np.uint8)
    materials = np.empty((batch, height, width), dtype=np.uint8)
    materials[:] = np.where(rows < horizon, sky_band, np.uint8(_GROUND))
    for k in range(MAX_BUILDINGS):
        building = _boxes_columns(layout.buildings, slice(k, k + 1))
        _paint_boxes(materials, rows, cols, building, _BUILDING + k)
    _paint_road(materials, rows, cols, layout, height)
    _paint_boxes(materials, rows, cols, layout.pole, _POLE)
    _paint_boxes(materials, rows, cols, layout.housing, _HOUSING)
    for lamp in range(len(LIGHT_STATES)):
        lit = (layout.light_states == lamp)[:, None, None]
        material = np.where(lit, _LAMP_ON + lamp, _LAMP_OFF + lamp).astype(np.uint8)
        one_lamp = _discs_columns(layout.lamps, slice(lamp, lamp + 1))
        _paint_discs(materials, rows, cols, one_lamp, material)

    # Cars live below the horizon: draw them on that band only.
    top = int(layout.horizon.min())
    band, band_rows = materials[:, top:], rows[:, top:]
    max_cars = config.max_cars
    for slot in range(max_cars):
        pick = slice(slot, slot + 1)
        pair = [slot, slot + max_cars]
        _paint_boxes(
            band, band_rows, cols, _boxes_columns(layout.car_bodies, pick), _CAR_BODY + slot
        )
        _paint_boxes(
            band, band_rows, cols, _boxes_columns(layout.car_cabins, pick), _CAR_BODY + slot
        )
        _paint_boxes(band, band_rows, cols, _boxes_columns(layout.car_windows, pick), _WINDOW)
        _paint_boxes(
            band, band_rows, cols, _boxes_columns(layout.car_tail_lights, pair), _TAIL_LIGHT
        )
        _paint_discs(band, band_rows, cols, _discs_columns(layout.car_wheels, pair), _WHEEL)
    return materials


def _boxes_columns(boxes: Boxes, columns: slice | list[int]) -> Boxes:
    return Boxes(
        boxes.y0[:, columns], boxes.y1[:, columns], boxes.x0[:, columns], boxes.x1[:, columns]
    )


def _discs_columns(discs: Discs, columns: slice | list[int]) -> Discs:
    return Discs(discs.cy[:, columns], discs.cx[:, columns], discs.radius[:, columns])


def render_layout(layout: StreetSceneLayout, config: StreetSceneConfig) -> RenderedFrames:
    """Draw every frame of ``layout`` (B frames) at ``config``'s size.

    Returns RGB images uint8 (B, H, W, 3) and segmentation masks uint8 (B, H, W).
    """
    materials = _paint_materials(layout, config)
    palette = _palette(layout, config.max_cars)
    n_materials = palette.shape[1]
    offsets = (np.arange(len(layout), dtype=np.intp) * n_materials)[:, None, None]
    images = palette.reshape(-1, 3)[materials.astype(np.intp) + offsets]
    masks = _material_classes(config.max_cars)[materials]
    return RenderedFrames(images=images, masks=masks)
