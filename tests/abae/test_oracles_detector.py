"""The detector example end to end: real images and a real detector that ship in packages.

``examples/detector/``: scikit-image's copy of OpenCV's LBP frontal-face cascade over
the photographs scikit-image ships; the images are imported into a store and a query
runs through :class:`abae.engine.Engine`. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from abae.engine import Engine
from abae.oracles import load_oracle_file
from abae.store import LabelLedger

pytest.importorskip("skimage")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "detector"
SQL = (
    "SELECT COUNT(*) FROM photos WHERE has_face(image_blob) "
    "ORACLE LIMIT 80 USING brightness WITH PROBABILITY 0.95"
)


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"detector_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_face_count_with_a_real_detector(tmp_path: Path) -> None:
    build = _module("build_store")
    store = build.build_store(tmp_path / "photos.duckdb")
    oracles = load_oracle_file(EXAMPLE / "oracles.py")
    engine = Engine(store, oracles, concurrency=4)
    result = engine.run(SQL)
    (count,) = result.aggregates
    assert result.calls_spent_total <= 80
    assert result.left_out == []
    # the exact answer: the detector over every image
    images, names = build.example_images()
    detect = oracles.get("has_face").fn
    exact = 0
    for pixels in images:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        exact += bool(detect(buffer.getvalue()))
    assert len(names) == 208
    assert 50 <= exact <= 110  # faces in most of the 100 face crops, none elsewhere
    assert count.ci_low <= exact <= count.ci_high
    # the detector is versioned: its labels are cached per version, and a rerun is free
    spec = oracles.get("has_face")
    assert spec.key == "has_face@skimage-lbp-frontalface-1"
    assert len(LabelLedger(store, "photos").lookup(spec.key, range(208))) == 80
    again = engine.run(SQL)
    assert again.fresh_labels == 0
    assert again.aggregates[0].estimate == count.estimate
