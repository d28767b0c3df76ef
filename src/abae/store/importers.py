"""Importers: records from NumPy arrays, a CSV/Parquet file, or a folder of images.

Every importer creates one collection (see :mod:`abae.store.records`) and
returns it. Images are kept as references (``image``: a path) or as encoded
bytes (``image_blob``: PNG for NumPy image arrays, ``.npy`` bytes for array
cells of a Parquet file).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from abae.errors import AbaeError
from abae.store.connection import Store
from abae.store.identifiers import quote, validate_identifier
from abae.store.records import BASE_COLUMNS, RecordCollection

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

_NUMPY_TO_SQL = {
    "b": "BOOLEAN",
    "i": "BIGINT",
    "u": "UBIGINT",
    "f": "DOUBLE",
}


def import_arrays(
    store: Store,
    name: str,
    *,
    ids: NDArray[np.integer] | None = None,
    images: Sequence[str] | None = None,
    image_arrays: NDArray[np.uint8] | None = None,
    columns: Mapping[str, NDArray[np.generic] | Sequence[object]] | None = None,
    proxies: Mapping[str, NDArray[np.floating]] | None = None,
    source: str = "numpy",
    replace: bool = False,
) -> RecordCollection:
    """Create collection ``name`` from in-memory arrays.

    Args:
        ids: int (N,) record ids, unique; default ``0..N-1``.
        images: N image references (paths), or ``None``.
        image_arrays: uint8 (N, H, W) or (N, H, W, C) pixels, stored as PNG blobs.
        columns: user columns, each length N (numbers, booleans or strings).
        proxies: proxy score columns, each float (N,).
        replace: overwrite an existing collection of that name.
    """
    columns = dict(columns or {})
    proxies = dict(proxies or {})
    lengths = {f"column {k!r}": len(v) for k, v in columns.items()}
    lengths.update({f"proxy {k!r}": len(v) for k, v in proxies.items()})
    if images is not None:
        lengths["images"] = len(images)
    if image_arrays is not None:
        if image_arrays.ndim not in (3, 4):
            raise ValueError(
                f"image_arrays must be (N, H, W) or (N, H, W, C), got shape {image_arrays.shape}"
            )
        lengths["image_arrays"] = int(image_arrays.shape[0])
    if ids is not None:
        lengths["ids"] = len(ids)
    if not lengths:
        raise ValueError("nothing to import: give ids, images, image_arrays or columns")
    if len(set(lengths.values())) != 1:
        raise ValueError(f"all inputs must have the same length, got {lengths}")
    n = next(iter(lengths.values()))
    id_array = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
    if np.unique(id_array).size != n:
        raise ValueError("ids must be unique")
    overlap = set(columns) & set(proxies)
    if overlap:
        raise ValueError(f"names used both as column and proxy: {sorted(overlap)}")

    data: dict[str, NDArray[np.generic]] = {"id": id_array}
    data["image"] = np.array(
        [None] * n if images is None else [None if p is None else str(p) for p in images],
        dtype=object,
    )
    data["image_blob"] = np.array(
        [None] * n if image_arrays is None else [_png_bytes(a) for a in image_arrays], dtype=object
    )
    sql_types: dict[str, str] = {}
    for column, values in columns.items():
        array, sql_type = _column_array(column, values)
        data[column] = array
        sql_types[column] = sql_type
    collection = RecordCollection.create(store, name, sql_types, source=source, replace=replace)
    _bulk_insert(store, name, data)
    for proxy, scores in proxies.items():
        collection.write_proxy_scores(proxy, id_array, np.asarray(scores, dtype=np.float64))
    return collection


def import_table_file(
    store: Store,
    name: str,
    path: str | Path,
    *,
    id_column: str | None = None,
    image_column: str | None = None,
    proxy_columns: Sequence[str] = (),
    replace: bool = False,
) -> RecordCollection:
    """Create collection ``name`` from a CSV or Parquet file (chosen by extension).

    Args:
        id_column: the column holding unique integer ids; default: row numbers from 0.
        image_column: a column of image paths (text) or pixel arrays (lists, stored as
            ``.npy`` blobs); optional.
        proxy_columns: numeric columns to register as proxy scores.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        reader = "read_csv_auto(?)"
    elif suffix in (".parquet", ".pq"):
        reader = "read_parquet(?)"
    else:
        raise ValueError(f"cannot import {path}: expected a .csv or .parquet file, got {suffix!r}")
    with store.transaction() as con:
        described = con.execute(f"DESCRIBE SELECT * FROM {reader}", [str(path)]).fetchall()
    file_types = {str(row[0]): str(row[1]) for row in described}
    for column in file_types:
        validate_identifier(column, what=f"column name in {path.name}")
    for wanted, role in ((id_column, "id"), (image_column, "image")):
        if wanted is not None and wanted not in file_types:
            raise ValueError(
                f"--{role}-column {wanted!r} is not in {path.name} (columns: {', '.join(file_types)})"
            )
    for proxy in proxy_columns:
        if proxy not in file_types:
            raise ValueError(f"proxy column {proxy!r} is not in {path.name}")
    user_columns = {
        c: t
        for c, t in file_types.items()
        if c not in (id_column, image_column) and c not in proxy_columns
    }
    clashes = [c for c in user_columns if c.lower() in BASE_COLUMNS]
    if clashes:
        raise ValueError(
            f"columns {clashes} in {path.name} clash with built-in columns {BASE_COLUMNS}; "
            "name them with --id-column/--image-column or rename them"
        )
    collection = RecordCollection.create(
        store, name, user_columns, source=str(path), replace=replace
    )
    image_is_text = image_column is not None and file_types[image_column] == "VARCHAR"
    id_sql = f"CAST({quote(id_column)} AS BIGINT)" if id_column else "row_number() OVER () - 1"
    image_sql = quote(image_column) if image_is_text and image_column else "NULL"
    user_sql = [quote(c) for c in user_columns]
    with store.transaction() as con:
        con.execute(
            f"INSERT INTO {quote(name)} (id, image, {', '.join(['image_blob', *user_sql])}) "
            f"SELECT {id_sql}, {image_sql}, {', '.join(['NULL', *user_sql])} FROM {reader}",
            [str(path)],
        )
        if image_column is not None and not image_is_text:
            rows = con.execute(
                f"SELECT {id_sql} AS id, {quote(image_column)} FROM {reader}", [str(path)]
            ).fetchall()
            blobs = np.array([_npy_bytes(value) for _, value in rows], dtype=object)
            con.register("abae_blobs", {"id": np.array([r[0] for r in rows]), "blob": blobs})
            try:
                con.execute(
                    f"UPDATE {quote(name)} AS r SET image_blob = b.blob "
                    "FROM abae_blobs b WHERE r.id = b.id"
                )
            finally:
                con.unregister("abae_blobs")
        if proxy_columns:
            proxy_sql = ", ".join(
                f"CAST({quote(p)} AS DOUBLE) AS {quote(p)}" for p in proxy_columns
            )
            result = con.execute(f"SELECT {id_sql} AS id, {proxy_sql} FROM {reader}", [str(path)])
            proxy_data = result.fetchnumpy()
    for proxy in proxy_columns:
        collection.write_proxy_scores(
            proxy, np.asarray(proxy_data["id"], dtype=np.int64), np.asarray(proxy_data[proxy])
        )
    return collection


def import_image_folder(
    store: Store,
    name: str,
    folder: str | Path,
    *,
    embed: bool = False,
    replace: bool = False,
) -> RecordCollection:
    """Create collection ``name`` with one record per image file under ``folder`` (recursive).

    Records get ids ``0..N-1`` in sorted path order, ``image`` = the absolute path,
    and a ``filename`` column (path relative to ``folder``). With ``embed`` the
    file bytes are stored in ``image_blob`` too.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
    if not files:
        raise AbaeError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) under {folder}")
    collection = RecordCollection.create(
        store, name, {"filename": "VARCHAR"}, source=str(folder.resolve()), replace=replace
    )
    data: dict[str, NDArray[np.generic]] = {
        "id": np.arange(len(files), dtype=np.int64),
        "image": np.array([str(p.resolve()) for p in files], dtype=object),
        "image_blob": np.array([p.read_bytes() if embed else None for p in files], dtype=object),
        "filename": np.array([str(p.relative_to(folder)) for p in files], dtype=object),
    }
    _bulk_insert(store, name, data)
    return collection


def _bulk_insert(store: Store, name: str, data: Mapping[str, NDArray[np.generic]]) -> None:
    column_sql = ", ".join(quote(c) for c in data)
    with store.transaction() as con:
        con.register("abae_import", dict(data))
        try:
            con.execute(
                f"INSERT INTO {quote(name)} ({column_sql}) SELECT {column_sql} FROM abae_import"
            )
        finally:
            con.unregister("abae_import")


def _column_array(
    column: str, values: NDArray[np.generic] | Sequence[object]
) -> tuple[NDArray[np.generic], str]:
    validate_identifier(column, what="column name")
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"column {column!r} must be 1-D, got shape {array.shape}")
    kind = array.dtype.kind
    if kind in _NUMPY_TO_SQL:
        return array, _NUMPY_TO_SQL[kind]
    if kind in ("U", "S", "O"):
        return np.array([None if v is None else str(v) for v in array], dtype=object), "VARCHAR"
    raise ValueError(f"column {column!r} has unsupported dtype {array.dtype}")


def _png_bytes(pixels: NDArray[np.uint8]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def _npy_bytes(value: object) -> bytes | None:
    if value is None:
        return None
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(value), allow_pickle=False)
    return buffer.getvalue()
