"""Video import end to end: the test writes short videos with PyAV, imports them, reads frames back.

Each frame ``k`` of a test video shows an orange 8×8 square at column ``k`` on
black, so a stored frame says which frame it came from. A lossless video
(PNG frames in QuickTime) must come back pixel for pixel; an H.264 one (lossy)
must put the square within a pixel of its place.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from abae.cli import main
from abae.store import CollectionImportError, RecordCollection, Store, import_video

av = pytest.importorskip("av")

FPS = 10
FRAMES = 30
HEIGHT, WIDTH = 24, 48
SQUARE = (255, 128, 0)


def frame_pixels(k: int) -> np.ndarray:
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[8:16, k : k + 8] = SQUARE
    return pixels


def write_video(
    path: Path, codec: str, pix_fmt: str, options: dict[str, str] | None = None
) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        if options:
            stream.options = options
        for k in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(frame_pixels(k), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, FPS)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def lossless(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mov", "png", "rgb24")


@pytest.fixture(scope="module")
def h264(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", "libx264", "yuv420p")


def _frames(collection: RecordCollection) -> list[tuple[int, int, float, np.ndarray]]:
    import io

    from PIL import Image

    out = []
    for batch in collection.iter_batches(columns=["frame_index", "timestamp_s", "video"]):
        for j, record in enumerate(batch.ids.tolist()):
            blob = batch.blobs[j]
            assert blob is not None
            assert batch.images[j] is None
            pixels = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
            out.append(
                (
                    record,
                    int(batch.columns["frame_index"][j]),
                    float(batch.columns["timestamp_s"][j]),
                    pixels,
                )
            )
    return out


@pytest.mark.parametrize(("every_s", "fps"), [(0.5, None), (None, 2.0)])
def test_lossless_video_frames_come_back_exactly(
    tmp_path: Path, lossless: Path, every_s: float | None, fps: float | None
) -> None:
    collection = import_video(
        Store(tmp_path / "s.duckdb"), "clip", lossless, every_s=every_s, fps=fps
    )
    frames = _frames(collection)
    assert [(r, i) for r, i, _, _ in frames] == [(0, 0), (1, 5), (2, 10), (3, 15), (4, 20), (5, 25)]
    assert [t for _, _, t, _ in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], abs=1e-9)
    for _, index, _, pixels in frames:
        np.testing.assert_array_equal(pixels, frame_pixels(index))
    with collection.store.transaction() as con:
        videos = con.execute("SELECT DISTINCT video FROM clip").fetchall()
    assert videos == [(str(lossless.resolve()),)]


def test_every_frame_when_asked_for_more_than_the_video_has(tmp_path: Path, lossless: Path) -> None:
    collection = import_video(Store(tmp_path / "s.duckdb"), "clip", lossless, fps=25)
    assert [i for _, i, _, _ in _frames(collection)] == list(range(FRAMES))


def test_h264_frames_show_the_square_in_its_place(tmp_path: Path, h264: Path) -> None:
    collection = import_video(Store(tmp_path / "s.duckdb"), "clip", h264, every_s=1.0)
    frames = _frames(collection)
    assert [(i, t) for _, i, t, _ in frames] == [(0, 0.0), (10, 1.0), (20, 2.0)]
    for _, index, _, pixels in frames:
        red = pixels[..., 0].astype(float)
        columns = np.flatnonzero(red[8:16].mean(axis=0) > 128)
        assert columns.size > 0
        assert abs(columns.mean() - (index + 3.5)) <= 1.0


def test_stored_frames_are_read_by_the_proxy_image_reader(tmp_path: Path, lossless: Path) -> None:
    from abae.proxy.record_images import decode_record_images, spec_of_collection

    collection = import_video(Store(tmp_path / "s.duckdb"), "clip", lossless, every_s=1.0)
    spec = spec_of_collection(collection)
    assert (spec.height, spec.width, spec.channels) == (HEIGHT, WIDTH, 3)
    batch = next(collection.iter_batches(columns=["frame_index"]))
    images = decode_record_images(batch, spec)
    for position, index in enumerate(batch.columns["frame_index"].tolist()):
        np.testing.assert_array_equal(images[position], frame_pixels(index))


def test_cli_imports_a_video(
    tmp_path: Path, lossless: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "s.duckdb")
    code = main(["import", str(lossless), "--table", "clip", "--every", "500ms", "--db", db,
                 "--no-progress"])  # fmt: skip
    assert code == 0
    assert "imported 6 records into 'clip'" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["import", str(lossless), "--table", "x", "--every", "1s", "--fps", "2"])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_broken_video_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(CollectionImportError, match=r"broken\.mp4"):
        import_video(store, "clip", broken)
    assert not list(tmp_path.glob(".s.duckdb.import-*")), "the staging file was left behind"
    with store.transaction() as con:
        assert con.execute("SELECT count(*) FROM abae_collections").fetchall() == [(0,)]


def test_bad_sampling_is_refused(tmp_path: Path, lossless: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(ValueError, match="either --every or --fps"):
        import_video(store, "clip", lossless, every_s=1.0, fps=2.0)
    with pytest.raises(ValueError, match="--fps must be a positive"):
        import_video(store, "clip", lossless, fps=0.0)
