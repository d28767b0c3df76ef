"""Images a proxy reads: checks on arrays and decoding of files, with errors that name the culprit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from abae.proxy import ImageInputError, ImageSpec, read_image_file, read_image_files
from numerics import assert_same_path

GREY = ImageSpec(height=8, width=12, channels=1)
RGB = ImageSpec(height=8, width=12, channels=3)


def write_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def test_to_tensor_normalises_to_channels_first() -> None:
    images = np.full((2, 8, 12, 3), 255, dtype=np.uint8)
    images[1] = 0
    tensor = RGB.to_tensor(images)
    assert tensor.shape == (2, 3, 8, 12)
    assert tensor.dtype == torch.float32
    assert torch.allclose(tensor[0], torch.full((3, 8, 12), (1 - 0.5) / 0.25))
    assert torch.allclose(tensor[1], torch.full((3, 8, 12), -0.5 / 0.25))


def test_read_only_arrays_are_accepted() -> None:
    images = np.zeros((1, 8, 12), dtype=np.uint8)
    images.flags.writeable = False
    assert GREY.to_tensor(images).shape == (1, 1, 8, 12)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 12, 8), np.uint8), r"12×8 but the proxy reads 8×12 L"),
        (np.zeros((2, 8, 12, 3), np.uint8), "RGB but the proxy reads L"),
        (np.zeros((2, 8, 12, 4), np.uint8), "4 channels but the proxy reads L"),
        (np.zeros((2, 8, 12), np.float32), "uint8"),
        (np.zeros((8, 12), np.uint8), r"batch \(N, H, W\)"),
    ],
)
def test_bad_batches_are_explained(images: np.ndarray, message: str) -> None:
    with pytest.raises(ImageInputError, match=message):
        GREY.check_batch(images)


def test_stack_names_the_bad_record() -> None:
    good, bad = np.zeros((8, 12), np.uint8), np.zeros((9, 12), np.uint8)
    assert GREY.stack([good, good]).shape == (2, 8, 12, 1)
    with pytest.raises(ImageInputError, match="record frame-17"):
        GREY.stack([good, bad], record_ids=["frame-3", "frame-17"])


def test_spec_round_trips_and_validates() -> None:
    assert ImageSpec.from_dict(RGB.to_dict()) == RGB
    assert ImageSpec.of_batch(np.zeros((3, 8, 12, 3), np.uint8)) == RGB
    with pytest.raises(ValueError, match="channels"):
        ImageSpec(8, 8, 2)
    with pytest.raises(ValueError, match="positive"):
        ImageSpec(0, 8, 1)


def test_reads_png_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (8, 12), dtype=np.uint8)
    colour = rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)
    np.testing.assert_array_equal(
        read_image_file(write_png(tmp_path / "g.png", grey), GREY)[..., 0], grey
    )
    np.testing.assert_array_equal(
        read_image_file(write_png(tmp_path / "c.png", colour), RGB), colour
    )
    batch = read_image_files([tmp_path / "g.png", tmp_path / "g.png"], GREY)
    assert batch.shape == (2, 8, 12, 1)


def test_wrong_size_file_is_named(tmp_path: Path) -> None:
    path = write_png(tmp_path / "big.png", np.zeros((16, 12), np.uint8))
    with pytest.raises(ImageInputError, match=r"record 42 \(.*big.png\): image is 16×12"):
        read_image_file(path, GREY, record=42)


def test_wrong_mode_file_is_named(tmp_path: Path) -> None:
    path = write_png(tmp_path / "rgb.png", np.zeros((8, 12, 3), np.uint8))
    with pytest.raises(ImageInputError, match=r"rgb.png: image mode is RGB but the proxy reads L"):
        read_image_file(path, GREY)


def test_truncated_file_is_named(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = write_png(tmp_path / "cut.png", rng.integers(0, 256, (8, 12, 3), dtype=np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageInputError, match=r"record 7 \(.*cut.png\): unreadable or truncated"):
        read_image_file(path, RGB, record=7)


def test_truncated_jpeg_is_named(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "cut.jpg"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageInputError, match=r"cut\.jpg: unreadable or truncated"):
        read_image_file(path, ImageSpec(64, 64, 3))


def test_not_an_image_and_missing_files_are_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageInputError, match=r"notes\.png: not an image file"):
        read_image_file(text, GREY)
    with pytest.raises(ImageInputError, match=r"gone\.png: image file does not exist"):
        read_image_file(tmp_path / "gone.png", GREY)


def test_batch_read_names_the_first_bad_record(tmp_path: Path) -> None:
    good = write_png(tmp_path / "ok.png", np.zeros((8, 12), np.uint8))
    bad = write_png(tmp_path / "wide.png", np.zeros((8, 13), np.uint8))
    with pytest.raises(ImageInputError, match=r"record b \(.*wide.png\)"):
        read_image_files([good, bad], GREY, record_ids=["a", "b"])
    with pytest.raises(ValueError, match="2 image paths but 1 record ids"):
        read_image_files([good, bad], GREY, record_ids=["a"])


def bomb_png(width: int, height: int) -> bytes:
    """A tiny grey PNG whose header claims ``width × height`` pixels (a decompression bomb)."""
    import io
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    # IHDR starts at byte 8: length (4), type (4), width (4), height (4), ...; CRC after 13 bytes.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("side", [12_000, 100_000])  # Pillow's warning range, and its error range
def test_a_decompression_bomb_file_is_refused_naming_the_record(tmp_path: Path, side: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(side, side))
    with pytest.raises(ImageInputError, match=r"record 9 \(.*bomb\.png\)"):
        read_image_file(path, GREY, record=9)


def test_a_large_image_of_another_size_is_refused_from_its_header(tmp_path: Path) -> None:
    # Below Pillow's bomb limit, but not what the proxy reads: refused before decoding.
    path = tmp_path / "big.png"
    path.write_bytes(bomb_png(5000, 5000))
    with pytest.raises(ImageInputError, match=r"record 4 \(.*big\.png\): image is 5000×5000"):
        read_image_file(path, GREY, record=4)


def test_a_bomb_without_a_spec_is_refused_before_decoding() -> None:
    from abae.proxy.image_decoding import decode_image

    with pytest.raises(ImageInputError, match=r"record 3: image_blob .* claims 9000×9000 pixels"):
        decode_image(bomb_png(9000, 9000), None, record=3)
    with pytest.raises(ImageInputError, match=r"record 5: image_blob .* decompression bomb"):
        decode_image(bomb_png(100_000, 100_000), None, record=5)


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((3, 8, 12), np.uint8),  # grey: a zero-stride channel axis once added
        np.zeros((3, 8, 12, 3), np.uint8),
        np.zeros((3, 8, 24, 3), np.uint8)[:, :, ::2],  # a strided view
        np.zeros((3, 8, 12, 3), np.uint8)[::-1],  # negative strides
    ],
)
def test_model_input_is_contiguous_nchw_whatever_the_layout(images: np.ndarray) -> None:
    spec = ImageSpec(8, 12, images.shape[3] if images.ndim == 4 else 1)
    tensor = spec.to_tensor(images)
    assert tensor.is_contiguous()
    assert tensor.shape == (3, spec.channels, 8, 12)
    pixels = spec.to_pixels(images)
    assert pixels.is_contiguous()
    assert not np.shares_memory(pixels.numpy(), images)


def test_the_same_images_in_any_layout_score_bitwise_alike() -> None:
    import afno
    from abae.proxy import PlattCalibration, Proxy

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (16, 8, 12), dtype=np.uint8)
    network = afno.create_model(
        "afnonet_tiny", img_size=(8, 12), patch_size=4, in_chans=1, num_classes=1, seed=0
    )
    proxy = Proxy(network, GREY, task="classify", calibration=PlattCalibration())
    reference = proxy.score_batch(np.ascontiguousarray(grey))
    # (N, H, W), (N, H, W, 1), a read-only copy and a reversed view: one layout reaches the
    # network, so the same batch is the same computation (bitwise).
    read_only = grey.copy()
    read_only.flags.writeable = False
    assert_same_path(proxy.score_batch(grey[..., None]), reference)
    assert_same_path(proxy.score_batch(read_only), reference)
    reversed_view = np.ascontiguousarray(grey[::-1])[::-1]
    assert_same_path(proxy.score_batch(reversed_view), reference)
