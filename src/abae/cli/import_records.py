"""``abae import``: load records into the store from images, CSV/Parquet, NumPy or video files."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from abae.cli.store_option import add_db_option, open_store
from abae.errors import AbaeError
from abae.store.table_files import file_kind
from abae.store.video import VIDEO_EXTENSIONS

DESCRIPTION = """\
Create a collection (a table of records) in the store. The import is atomic:
if it fails, the store is unchanged and the same command can simply be rerun.

SOURCE may be
  a folder of images   one record per image file (.png .jpg .jpeg .bmp .gif .tif
                       .tiff .webp), sub-folders too; columns `image` (the file's
                       path) and `filename` (relative to the folder); --embed also
                       stores the bytes. Links pointing outside the folder are
                       skipped with a warning (never read, never embedded).
  a .csv or .parquet   one record per row, read by DuckDB; --id-column names a
                       column of unique 64-bit integer ids (default: row numbers),
                       --image-column a column of image paths (or of pixel arrays,
                       stored as .npy blobs), --proxy-column numeric columns to use
                       as proxy scores; every other column is kept as is. A file
                       named with * ? [ is read as that one file, not a pattern.
  a .npz file          NumPy arrays of equal length: `ids`, `images` (paths),
                       `image_arrays` (N,H,W[,C] uint8, stored as PNG), and any
                       1-D arrays as columns (--proxy-column marks proxy scores)
  a video file         (.mp4 .m4v .mov .mkv .avi .webm .mpg .mpeg .ts .wmv; needs
                       the `video` extra, PyAV) one record per kept frame, stored
                       as a PNG in image_blob, with columns `video`, `frame_index`
                       and `timestamp_s`; --every 1s (default) or --fps N says
                       which frames to keep

examples:
  abae import photos/ --table photos --embed
  abae import frames.csv --table frames --id-column frame_id --image-column path \\
      --proxy-column red_light_score --db traffic.duckdb
  abae import scores.parquet --table frames --proxy-column p --replace
  abae import fashion.npz --table fashion --proxy-column guess
  abae import dashcam.mp4 --table dashcam --every 0.5s
  abae import dashcam.mp4 --table dashcam --fps 2
"""

_DURATION = re.compile(r"\s*(?P<value>\d+(\.\d*)?|\.\d+)\s*(?P<unit>ms|s|m|min)?\s*")
_UNIT_SECONDS = {None: 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0}


def parse_duration(text: str) -> float:
    """Seconds from ``1s``, ``0.5s``, ``500ms``, ``2m`` or a bare number of seconds."""
    match = _DURATION.fullmatch(text)
    if match is None or float(match["value"]) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive duration such as 1s, 0.5s, 500ms or 2m, got {text!r}"
        )
    return float(match["value"]) * _UNIT_SECONDS[match["unit"]]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import records (image folder, CSV/Parquet, NumPy .npz, video) into the store",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", help="folder of images, .csv, .parquet, .npz or video file")
    parser.add_argument("--table", default="records", help="collection name (default: records)")
    parser.add_argument(
        "--id-column", default=None, help="CSV/Parquet: column of unique integer record ids"
    )
    parser.add_argument(
        "--image-column", default=None, help="CSV/Parquet: column of image paths or arrays"
    )
    parser.add_argument(
        "--proxy-column",
        action="append",
        default=[],
        metavar="NAME",
        help="CSV/Parquet/.npz: numeric column to register as a proxy score (repeatable)",
    )
    parser.add_argument(
        "--embed", action="store_true", help="image folder: store the image bytes in the store"
    )
    frames = parser.add_mutually_exclusive_group()
    frames.add_argument(
        "--every",
        type=parse_duration,
        default=None,
        metavar="DURATION",
        help="video: keep one frame every DURATION (1s, 0.5s, 500ms, 2m; default 1s)",
    )
    frames.add_argument(
        "--fps",
        type=_positive_float,
        default=None,
        metavar="N",
        help="video: keep N frames per second",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="overwrite an existing collection (kept if the new import fails)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_db_option(parser)
    parser.set_defaults(func=run)


def source_kind(source: Path) -> str:
    """``folder``, ``npz``, ``video`` or ``table`` (CSV/Parquet), from what ``source`` is."""
    if source.is_dir():
        return "folder"
    if not source.exists():
        raise FileNotFoundError(f"no such file or folder: {source}")
    suffix = source.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    try:
        file_kind(source)
    except AbaeError:
        raise AbaeError(
            f"cannot import {source}: expected a folder of images, a .csv, .parquet, .npz or "
            f"video ({' '.join(VIDEO_EXTENSIONS)}) file, got {suffix or 'no suffix'!r}"
        ) from None
    return "table"


_OPTIONS_BY_KIND = {
    "folder": {"embed"},
    "table": {"id_column", "image_column", "proxy_column"},
    "npz": {"proxy_column"},
    "video": {"every", "fps"},
}
_OPTION_NAMES = {
    "embed": "--embed",
    "id_column": "--id-column",
    "image_column": "--image-column",
    "proxy_column": "--proxy-column",
    "every": "--every",
    "fps": "--fps",
}


def _refuse_foreign_options(args: argparse.Namespace, kind: str) -> None:
    given = [o for o in _OPTION_NAMES if getattr(args, o) not in (None, False, [])]
    foreign = [_OPTION_NAMES[o] for o in given if o not in _OPTIONS_BY_KIND[kind]]
    if foreign:
        what = {"folder": "a folder of images", "table": "a CSV/Parquet file"}.get(
            kind, f"a {kind} file"
        )
        raise AbaeError(f"{', '.join(foreign)} does not apply to {what} (see abae import --help)")


def run(args: argparse.Namespace) -> int:
    from abae.store import (
        import_image_folder,
        import_npz,
        import_table_file,
        import_video,
    )

    source = Path(args.source)
    kind = source_kind(source)
    _refuse_foreign_options(args, kind)
    store = open_store(args)
    progress = not args.no_progress
    common: dict[str, Any] = {"replace": args.replace, "progress": progress}
    if kind == "folder":
        collection = import_image_folder(
            store, args.table, source, embed=args.embed, on_warning=_warn, **common
        )
    elif kind == "npz":
        collection = import_npz(
            store, args.table, source, proxy_columns=args.proxy_column, on_warning=_warn, **common
        )
    elif kind == "video":
        collection = import_video(
            store, args.table, source, every_s=args.every, fps=args.fps, **common
        )
    else:
        collection = import_table_file(
            store,
            args.table,
            source,
            id_column=args.id_column,
            image_column=args.image_column,
            proxy_columns=args.proxy_column,
            **common,
        )
    proxies = collection.proxy_names()
    print(
        f"imported {collection.count()} records into {collection.name!r} in {store.path}"
        + (f"; proxies: {', '.join(proxies)}" if proxies else "")
    )
    return 0


def _warn(message: str) -> None:
    print(f"abae import: warning: {message}", file=sys.stderr)
