"""``abae import``: load records into the store from images, CSV/Parquet or NumPy files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from abae.cli.store_option import add_db_option, open_store
from abae.errors import AbaeError
from abae.store import import_arrays, import_image_folder, import_table_file

DESCRIPTION = """\
Create a collection (a table of records) in the store.

SOURCE may be
  a folder of images   one record per image file (recursive); column `filename`;
                       --embed also stores the bytes
  a .csv or .parquet   one record per row; --image-column names a column of paths
                       (or of pixel arrays, stored as .npy blobs), --id-column a
                       column of unique integer ids, --proxy-column numeric columns
                       to use as proxy scores
  a .npz file          arrays of equal length: `ids`, `images` (paths),
                       `image_arrays` (N,H,W[,C] uint8, stored as PNG), and any
                       1-D arrays as columns (--proxy-column marks proxy scores)
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import records (image folder, CSV/Parquet, NumPy .npz) into the store",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", help="folder of images, .csv, .parquet or .npz file")
    parser.add_argument("--table", default="records", help="collection name (default: records)")
    parser.add_argument("--id-column", default=None, help="column of unique integer record ids")
    parser.add_argument("--image-column", default=None, help="column of image paths or arrays")
    parser.add_argument(
        "--proxy-column",
        action="append",
        default=[],
        metavar="NAME",
        help="numeric column to register as a proxy score (repeatable)",
    )
    parser.add_argument("--embed", action="store_true", help="store image bytes in the store")
    parser.add_argument("--replace", action="store_true", help="overwrite an existing collection")
    add_db_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    source = Path(args.source)
    if source.is_dir():
        collection = import_image_folder(
            store, args.table, source, embed=args.embed, replace=args.replace
        )
    elif source.suffix.lower() == ".npz":
        collection = _import_npz(store, args, source)
    elif source.exists():
        collection = import_table_file(
            store,
            args.table,
            source,
            id_column=args.id_column,
            image_column=args.image_column,
            proxy_columns=args.proxy_column,
            replace=args.replace,
        )
    else:
        raise FileNotFoundError(f"no such file or folder: {source}")
    proxies = collection.proxy_names()
    print(
        f"imported {collection.count()} records into {collection.name!r} in {store.path}"
        + (f"; proxies: {', '.join(proxies)}" if proxies else "")
    )
    return 0


def _import_npz(store: Any, args: argparse.Namespace, source: Path) -> Any:
    with np.load(source, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    special = {"ids", "images", "image_arrays"}
    missing = [p for p in args.proxy_column if p not in arrays]
    if missing:
        raise AbaeError(f"--proxy-column {missing} not in {source.name} (arrays: {sorted(arrays)})")
    proxies = {p: arrays[p] for p in args.proxy_column}
    columns = {
        k: v for k, v in arrays.items() if k not in special and k not in proxies and v.ndim == 1
    }
    images = arrays.get("images")
    return import_arrays(
        store,
        args.table,
        ids=arrays.get("ids"),
        images=None if images is None else [str(p) for p in images],
        image_arrays=arrays.get("image_arrays"),
        columns=columns,
        proxies=proxies,
        source=str(source),
        replace=args.replace,
    )
