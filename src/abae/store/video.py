"""Video files as collections: one record per sampled frame, decoded with PyAV.

``abae import VIDEO --every 1s`` (or ``--fps N``) decodes the first video
stream and keeps, for each tick ``k · interval`` seconds from the stream's
start, the first frame shown at or after it. Each kept frame becomes a record:

- ``id``: 0, 1, 2, ... in time order;
- ``image_blob``: the frame as an RGB PNG, so every image reader of the
  project (proxy training and scoring, oracles reading ``image_blob``) reads it
  like any other stored image; ``image`` is NULL;
- ``video`` (the video's absolute path), ``frame_index`` (the frame's position
  among all decoded frames, from 0) and ``timestamp_s`` (its presentation time
  in seconds from the stream's start): the frame's reference in the video.

Frames are stored, not referenced lazily: a collection stays readable when the
video moves and reading a record needs no decoder or seek. The cost is store
size (PNG of each kept frame); sample sparsely (``--every``) for long videos.
Decoding and encoding run chunk by chunk into a private staging file without
holding the store; the collection then appears in one transaction
(:mod:`abae.store.staging`). PyAV (the ``video`` extra) is imported only here.

Example:
    >>> sampling_interval(every_s=None, fps=None), sampling_interval(every_s=None, fps=4)
    (1.0, 0.25)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from abae.store.collection_publish import (
    CollectionImportError,
    NewCollection,
    RowSource,
    publish_collection,
)
from abae.store.connection import Store
from abae.store.import_progress import record_bar
from abae.store.png_encoding import encode_png_batch
from abae.store.records import RecordCollection
from abae.store.staging import STAGING_TABLE, StagingRows

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".wmv")
DEFAULT_EVERY_S = 1.0
CHUNK_PIXELS = 16_000_000
"""Pixels (×3 bytes) of decoded frames held before a chunk is encoded and staged."""
_TICK_SLACK_S = 1e-6
_STAGED_TYPES = {
    "id": "BIGINT",
    "image": "VARCHAR",
    "image_blob": "BLOB",
    "video": "VARCHAR",
    "frame_index": "BIGINT",
    "timestamp_s": "DOUBLE",
}


@dataclass(frozen=True)
class VideoFrame:
    """A kept frame: RGB pixels ``(H, W, 3)`` uint8, its index among decoded frames, its time (s)."""

    pixels: NDArray[np.uint8]
    frame_index: int
    timestamp_s: float


def sampling_interval(*, every_s: float | None, fps: float | None) -> float:
    """Seconds between kept frames: ``every_s``, or ``1 / fps``, or 1 s when neither is given.

    Raises:
        ValueError: both given, or not a positive finite number.
    """
    if every_s is not None and fps is not None:
        raise ValueError("give either --every or --fps, not both")
    interval = DEFAULT_EVERY_S if every_s is None and fps is None else every_s
    if fps is not None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"--fps must be a positive number of frames per second, got {fps}")
        interval = 1.0 / fps
    assert interval is not None
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"--every must be a positive number of seconds, got {interval}")
    return interval


def _import_av() -> Any:
    try:
        import av
    except ImportError as error:
        raise CollectionImportError(
            "video import needs PyAV: install the `video` extra (pip install 'abae-afno[video]')"
        ) from error
    return av


def sample_frames(path: str | os.PathLike[str], interval_s: float) -> Iterator[VideoFrame]:
    """Decode the first video stream of ``path`` and yield the frames kept every ``interval_s``.

    Raises:
        CollectionImportError: PyAV missing, an unreadable file, or no video stream.
    """
    av = _import_av()
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as error:
        raise CollectionImportError(f"cannot read {path} as a video: {error}") from error
    with container:
        if not container.streams.video:
            raise CollectionImportError(f"{path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start_s = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        rate = float(stream.average_rate) if stream.average_rate else None
        next_tick = 0.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                if frame.time is not None:
                    time_s = float(frame.time) - start_s
                elif rate:
                    time_s = index / rate
                else:
                    raise CollectionImportError(
                        f"{path}: frame {index} has no timestamp and the stream no frame rate"
                    )
                if time_s + _TICK_SLACK_S < next_tick:
                    continue
                yield VideoFrame(frame.to_ndarray(format="rgb24"), index, time_s)
                next_tick = (math.floor((time_s + _TICK_SLACK_S) / interval_s) + 1) * interval_s
        except av.FFmpegError as error:
            raise CollectionImportError(f"cannot decode {path}: {error}") from error


def expected_frames(path: str | os.PathLike[str], interval_s: float) -> int | None:
    """About how many frames :func:`sample_frames` keeps (``None``: duration unknown)."""
    av = _import_av()
    try:
        with av.open(str(path)) as container:
            duration = container.duration
    except (av.FFmpegError, OSError):
        return None
    if not duration:
        return None
    return int(duration / 1_000_000 / interval_s) + 1


def import_video(
    store: Store,
    name: str,
    path: str | os.PathLike[str],
    *,
    every_s: float | None = None,
    fps: float | None = None,
    replace: bool = False,
    progress: bool = False,
) -> RecordCollection:
    """Create collection ``name`` from the frames of a video (see the module docstring).

    Args:
        every_s: keep a frame every ``every_s`` seconds (default 1 s).
        fps: or keep ``fps`` frames per second.
        progress: show a bar of frames kept.

    Raises:
        FileNotFoundError: no such file.
        ValueError: bad ``every_s`` / ``fps``.
        CollectionImportError: PyAV missing, an unreadable video, no frame kept;
            the store is unchanged.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    interval = sampling_interval(every_s=every_s, fps=fps)
    source = str(path.resolve())
    spec = NewCollection(
        name,
        columns={"video": "VARCHAR", "frame_index": "BIGINT", "timestamp_s": "DOUBLE"},
        source=source,
    )
    with StagingRows(store.path, _STAGED_TYPES) as staging:
        bar = record_bar(expected_frames(path, interval), "decoding frames", enabled=progress)
        pending: list[VideoFrame] = []
        for frame in sample_frames(path, interval):
            pending.append(frame)
            if sum(f.pixels.size for f in pending) >= CHUNK_PIXELS * 3:
                _stage(staging, pending, source)
                bar.update(len(pending))
                pending = []
        if pending:
            _stage(staging, pending, source)
            bar.update(len(pending))
        bar.close()
        if staging.rows == 0:
            raise CollectionImportError(f"{path}: no frame could be decoded")
        staging.close()
        rows = RowSource(sql=f"SELECT * FROM abae_staging.{STAGING_TABLE}", attach=staging.path)
        publish_collection(store, spec, rows, replace=replace, progress=progress)
    return RecordCollection(store, name)


def _stage(staging: StagingRows, frames: list[VideoFrame], source: str) -> None:
    first_id = staging.rows
    staging.append(
        {
            "id": np.arange(first_id, first_id + len(frames), dtype=np.int64),
            "image": np.array([None] * len(frames), dtype=object),
            "image_blob": np.array(_encode(frames), dtype=object),
            "video": np.array([source] * len(frames), dtype=object),
            "frame_index": np.array([f.frame_index for f in frames], dtype=np.int64),
            "timestamp_s": np.array([f.timestamp_s for f in frames], dtype=np.float64),
        }
    )


def _encode(frames: list[VideoFrame]) -> list[bytes]:
    """PNG of each frame, encoding runs of equal-sized frames together."""
    blobs: list[bytes] = []
    start = 0
    while start < len(frames):
        end = start + 1
        while end < len(frames) and frames[end].pixels.shape == frames[start].pixels.shape:
            end += 1
        blobs.extend(encode_png_batch(np.stack([f.pixels for f in frames[start:end]])))
        start = end
    return blobs
