"""Importers: records from NumPy arrays or a ``.npz`` file, a CSV/Parquet file, a folder of images.

Every importer creates one collection (see :mod:`abae.store.records`) in one
store transaction and returns it; a failed import leaves the store as it was
(:mod:`abae.store.collection_publish`). Images are kept as references
(``image``: a path) or as encoded bytes (``image_blob``: PNG for NumPy image
arrays, the file's own bytes for ``embed``, ``.npy`` bytes for array cells of
a Parquet file). Bulk data goes through DuckDB's readers or NumPy arrays
handed to DuckDB whole, never row by row; ``progress=True`` shows tqdm bars on
stderr for steps longer than half a second. Video files: :mod:`abae.store.video`.

Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from abae.store import Store
    >>> store = Store(os.path.join(tempfile.mkdtemp(), "example.duckdb"))
    >>> frames = import_arrays(
    ...     store, "frames", columns={"camera": ["north", "south"]}, proxies={"p": [0.2, 0.9]}
    ... )
    >>> frames.count(), frames.proxy_names()
    (2, ['p'])
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from abae.store.collection_publish import (
    CollectionImportError,
    NewCollection,
    RowSource,
    publish_collection,
)
from abae.store.connection import Store
from abae.store.identifiers import quote
from abae.store.image_folder import (
    IMAGE_EXTENSIONS,
    read_image_bytes,
    scan_image_folder,
    skipped_message,
)
from abae.store.import_progress import record_bar
from abae.store.png_encoding import encode_png_batch
from abae.store.records import RecordCollection
from abae.store.staging import STAGING_TABLE, StagingRows
from abae.store.table_files import TableFile, check_roles, is_text_column, opened_table_file

__all__ = [
    "IMAGE_EXTENSIONS",
    "SkippedFileWarning",
    "import_arrays",
    "import_image_folder",
    "import_npz",
    "import_table_file",
]

ENCODE_CHUNK = 2048
"""Images PNG-encoded per step (bounds the framing buffer; one progress update each)."""
EMBED_CHUNK = 256
"""Image files read per staging write with ``embed``."""
_INT64_MAX = np.iinfo(np.int64).max
_NUMPY_TO_SQL = {"b": "BOOLEAN", "i": "BIGINT", "u": "UBIGINT", "f": "DOUBLE", "M": "TIMESTAMP"}
_ROWS_VIEW = "abae_import_rows"

WarningHandler = Callable[[str], None]


class SkippedFileWarning(UserWarning):
    """Files of an image folder that were not imported (links outside it, broken links, ...)."""


def _warn(message: str) -> None:
    warnings.warn(message, SkippedFileWarning, stacklevel=3)


def import_arrays(
    store: Store,
    name: str,
    *,
    ids: ArrayLike | None = None,
    images: Sequence[str | None] | None = None,
    image_arrays: NDArray[np.uint8] | None = None,
    columns: Mapping[str, ArrayLike] | None = None,
    proxies: Mapping[str, ArrayLike] | None = None,
    source: str = "numpy",
    replace: bool = False,
    progress: bool = False,
) -> RecordCollection:
    """Create collection ``name`` from in-memory arrays.

    Args:
        ids: int (N,) record ids, unique, within int64; default ``0..N-1``.
        images: N image references (paths), or ``None``.
        image_arrays: uint8 (N, H, W) or (N, H, W, C) pixels, stored as PNG blobs.
        columns: user columns, each length N (numbers, booleans, datetimes or strings).
        proxies: proxy score columns, each (N,) finite numbers.
        source: where the arrays come from (kept in the catalog).
        replace: overwrite an existing collection of that name (atomically).
        progress: show a progress bar while encoding images.

    Raises:
        ValueError: inputs of different lengths, bad shapes or dtypes.
        CollectionImportError: repeated or out-of-range ids, NaN proxy scores,
            a taken name; the store is unchanged.
    """
    user_columns = {k: _column_array(k, v) for k, v in (columns or {}).items()}
    proxy_arrays = {k: _proxy_array(k, v) for k, v in (proxies or {}).items()}
    count = _common_length(ids, images, image_arrays, user_columns, proxy_arrays)
    id_array = np.arange(count, dtype=np.int64) if ids is None else _id_array(ids)
    data: dict[str, Any] = {"id": id_array}
    if images is not None:
        data["image"] = np.array([None if p is None else str(p) for p in images], dtype=object)
    if image_arrays is not None:
        data["image_blob"] = _png_blobs(image_arrays, progress=progress)
    data.update({k: array for k, (array, _) in user_columns.items()})
    data.update(proxy_arrays)
    spec = NewCollection(
        name,
        columns={k: sql_type for k, (_, sql_type) in user_columns.items()},
        proxies=list(proxy_arrays),
        source=source,
        proxy_description=f"imported from {source}",
    )
    publish_collection(
        store,
        spec,
        _registered_rows(data, spec),
        replace=replace,
        progress=progress,
    )
    return RecordCollection(store, name)


def import_npz(
    store: Store,
    name: str,
    path: str | os.PathLike[str],
    *,
    proxy_columns: Sequence[str] = (),
    replace: bool = False,
    progress: bool = False,
    on_warning: WarningHandler | None = None,
) -> RecordCollection:
    """Create collection ``name`` from a NumPy ``.npz`` file of equal-length arrays.

    Arrays named ``ids`` (int), ``images`` (paths) and ``image_arrays`` (uint8
    ``(N, H, W[, C])``, stored as PNG) have those roles; every other 1-D array
    becomes a column, or a proxy score column if named in ``proxy_columns``.
    Arrays of other shapes are left out with a warning. Pickled objects are never loaded.

    Raises:
        FileNotFoundError: no such file.
        CollectionImportError: not a readable ``.npz``, pickled arrays, a missing
            proxy array, or any refusal of :func:`import_arrays`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    arrays = _load_npz(path)
    missing = [p for p in proxy_columns if p not in arrays]
    if missing:
        raise CollectionImportError(
            f"--proxy-column {', '.join(missing)} not in {path.name} (arrays: {', '.join(arrays)})"
        )
    roles = {"ids", "images", "image_arrays"}
    columns: dict[str, ArrayLike] = {}
    for key, array in arrays.items():
        if key in roles or key in proxy_columns:
            continue
        if array.ndim == 1:
            columns[key] = array
        else:
            (on_warning or _warn)(
                f"array {key!r} of {path.name} has shape {array.shape}, not (N,): not imported"
            )
    images = arrays.get("images")
    return import_arrays(
        store,
        name,
        ids=arrays.get("ids"),
        images=None if images is None else [str(p) for p in images],
        image_arrays=arrays.get("image_arrays"),
        columns=columns,
        proxies={p: arrays[p] for p in proxy_columns},
        source=str(path.resolve()),
        replace=replace,
        progress=progress,
    )


def import_table_file(
    store: Store,
    name: str,
    path: str | os.PathLike[str],
    *,
    id_column: str | None = None,
    image_column: str | None = None,
    proxy_columns: Sequence[str] = (),
    replace: bool = False,
    progress: bool = False,
) -> RecordCollection:
    """Create collection ``name`` from a CSV or Parquet file (chosen by extension).

    The file is read by DuckDB (``read_csv`` with type detection, ``read_parquet``)
    straight into the new table. A name with ``*``, ``?`` or ``[`` is read as that
    one file, not as a pattern.

    Args:
        id_column: the column holding unique 64-bit integer ids; default: row numbers from 0.
        image_column: a column of image paths (text) or pixel arrays (lists, stored as
            ``.npy`` blobs); optional.
        proxy_columns: numeric columns to register as proxy scores.
        progress: show DuckDB's progress while the file is copied.

    Raises:
        FileNotFoundError: no such file.
        CollectionImportError: unreadable file, missing or mistyped columns, ids
            that are not integers, out of range, missing or repeated, text or
            non-finite proxy scores; the store is unchanged.
    """
    with opened_table_file(path) as table:
        check_roles(
            table, id_column=id_column, image_column=image_column, proxy_columns=proxy_columns
        )
        roles = {id_column, image_column, *proxy_columns}
        user_columns = {c: t for c, t in table.columns.items() if c not in roles}
        spec = NewCollection(
            name,
            columns=user_columns,
            proxies=list(proxy_columns),
            source=str(table.path.resolve()),
            proxy_description=f"imported from {table.path.name}",
        )
        image_is_text = image_column is not None and is_text_column(table, image_column)
        selected = [
            f"{quote(id_column)} AS id" if id_column else "row_number() OVER () - 1 AS id",
            f"{quote(image_column)} AS image"
            if image_is_text and image_column
            else "NULL AS image",
            "NULL AS image_blob",
            *(quote(c) for c in user_columns),
            *(quote(p) for p in proxy_columns),
        ]
        rows = RowSource(
            sql=f"SELECT {', '.join(selected)} FROM {table.reader_sql}",
            params=[table.reader_path],
        )
        if image_column is None or image_is_text:
            publish_collection(store, spec, rows, replace=replace, progress=progress)
        else:
            _publish_with_array_images(store, spec, rows, table, image_column, id_column, replace)
    return RecordCollection(store, name)


def import_image_folder(
    store: Store,
    name: str,
    folder: str | os.PathLike[str],
    *,
    embed: bool = False,
    replace: bool = False,
    progress: bool = False,
    on_warning: WarningHandler | None = None,
) -> RecordCollection:
    """Create collection ``name`` with one record per image file under ``folder`` (recursive).

    Records get ids ``0..N-1`` in sorted path order, ``image`` = the file's real
    absolute path, and a ``filename`` column (path relative to ``folder``). With
    ``embed`` the file bytes are stored in ``image_blob`` too. Files that link
    outside the folder, broken links and non-regular files are skipped, each
    reported through ``on_warning`` (default: a :class:`SkippedFileWarning`);
    see :mod:`abae.store.image_folder`.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
        CollectionImportError: no importable image file, or a file cannot be read.
    """
    scan = scan_image_folder(folder)
    if scan.skipped:
        (on_warning or _warn)(skipped_message(folder, scan.skipped))
    if not scan.files:
        raise CollectionImportError(
            f"no image files ({', '.join(IMAGE_EXTENSIONS)}) to import under {folder}"
        )
    count = len(scan.files)
    spec = NewCollection(name, columns={"filename": "VARCHAR"}, source=str(Path(folder).resolve()))
    data: dict[str, Any] = {
        "id": np.arange(count, dtype=np.int64),
        "image": np.array([f.real_path for f in scan.files], dtype=object),
        "filename": np.array([f.relative for f in scan.files], dtype=object),
    }
    if not embed:
        publish_collection(store, spec, _registered_rows(data, spec), replace=replace)
        return RecordCollection(store, name)
    staged_types = {"id": "BIGINT", "image": "VARCHAR", "image_blob": "BLOB", "filename": "VARCHAR"}
    with StagingRows(store.path, staged_types) as staging:
        bar = record_bar(count, "reading images", enabled=progress)
        for start in range(0, count, EMBED_CHUNK):
            part = slice(start, start + EMBED_CHUNK)
            blobs = np.array([_read_embedded(f) for f in scan.files[part]], dtype=object)
            staging.append({**{k: v[part] for k, v in data.items()}, "image_blob": blobs})
            bar.update(len(blobs))
        bar.close()
        staging.close()
        rows = RowSource(sql=f"SELECT * FROM abae_staging.{STAGING_TABLE}", attach=staging.path)
        publish_collection(store, spec, rows, replace=replace, progress=progress)
    return RecordCollection(store, name)


# --- helpers ----------------------------------------------------------------------------


def _registered_rows(data: Mapping[str, Any], spec: NewCollection) -> RowSource:
    """Rows from NumPy columns handed to DuckDB whole; absent base columns are NULL."""
    selected = [
        quote(c) if c in data else f"NULL AS {c}"
        for c in ("id", "image", "image_blob", *spec.columns, *spec.proxies)
    ]
    return RowSource(
        sql=f"SELECT {', '.join(selected)} FROM {_ROWS_VIEW}",
        register={_ROWS_VIEW: data},
    )


def _common_length(
    ids: ArrayLike | None,
    images: Sequence[str | None] | None,
    image_arrays: NDArray[np.uint8] | None,
    columns: Mapping[str, tuple[NDArray[Any], str]],
    proxies: Mapping[str, NDArray[np.float64]],
) -> int:
    lengths = {f"column {k!r}": len(v) for k, (v, _) in columns.items()}
    lengths.update({f"proxy {k!r}": len(v) for k, v in proxies.items()})
    if images is not None:
        lengths["images"] = len(images)
    if image_arrays is not None:
        if np.ndim(image_arrays) not in (3, 4):
            raise ValueError(
                f"image_arrays must be (N, H, W) or (N, H, W, C), got shape {np.shape(image_arrays)}"
            )
        lengths["image_arrays"] = int(np.shape(image_arrays)[0])
    if ids is not None:
        lengths["ids"] = int(np.size(ids))
    if not lengths:
        raise ValueError("nothing to import: give ids, images, image_arrays or columns")
    if len(set(lengths.values())) != 1:
        raise ValueError(f"all inputs must have the same length, got {lengths}")
    return next(iter(lengths.values()))


def _id_array(ids: ArrayLike) -> NDArray[np.int64]:
    array = np.asarray(ids)
    if array.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        raise CollectionImportError(
            f"ids must be integers, got {array.dtype} (e.g. {array.flat[0]!r})"
        )
    if array.dtype.kind == "u" and array.size and int(array.max()) > _INT64_MAX:
        raise CollectionImportError(
            f"ids must be 64-bit signed integers; {int(array.max())} is above 2^63-1"
        )
    return array.astype(np.int64, copy=False)


def _column_array(column: str, values: ArrayLike) -> tuple[NDArray[Any], str]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"column {column!r} must be 1-D, got shape {array.shape}")
    kind = array.dtype.kind
    if kind in _NUMPY_TO_SQL:
        if kind == "M":
            array = array.astype("datetime64[us]")
        return array, _NUMPY_TO_SQL[kind]
    if kind in ("U", "S", "O"):
        return np.array([None if v is None else str(v) for v in array], dtype=object), "VARCHAR"
    raise ValueError(f"column {column!r} has unsupported dtype {array.dtype}")


def _proxy_array(proxy: str, values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"proxy {proxy!r} must be 1-D, got shape {array.shape}")
    if array.size and array.dtype.kind not in "biuf":
        raise CollectionImportError(
            f"proxy {proxy!r} must hold numbers, got {array.dtype} (e.g. {array.flat[0]!r})"
        )
    scores = array.astype(np.float64)
    bad = ~np.isfinite(scores)
    if bad.any():
        raise CollectionImportError(
            f"proxy column {proxy!r} has {int(bad.sum())} NaN or infinite scores (e.g. at "
            f"position {int(np.flatnonzero(bad)[0])}); a proxy score is a finite number per record"
        )
    return scores


def _png_blobs(image_arrays: NDArray[np.uint8], *, progress: bool) -> NDArray[np.object_]:
    pixels = np.asarray(image_arrays)
    if pixels.dtype != np.uint8:
        raise ValueError(f"image_arrays must be uint8, got {pixels.dtype}")
    blobs = np.empty(pixels.shape[0], dtype=object)
    bar = record_bar(pixels.shape[0], "encoding PNG", enabled=progress)
    for start in range(0, pixels.shape[0], ENCODE_CHUNK):
        chunk = encode_png_batch(pixels[start : start + ENCODE_CHUNK])
        blobs[start : start + len(chunk)] = chunk
        bar.update(len(chunk))
    bar.close()
    return blobs


def _load_npz(path: Path) -> dict[str, NDArray[Any]]:
    if not zipfile.is_zipfile(path):
        raise CollectionImportError(
            f"cannot read {path} as a NumPy .npz file: it is not a zip archive (save it with "
            "numpy.savez)"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as error:
        raise CollectionImportError(
            f"cannot import {path}: {error} (abae never loads pickled Python objects; save "
            "plain numeric or string arrays)"
        ) from error
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise CollectionImportError(f"cannot read {path} as a NumPy .npz file: {error}") from error


def _read_embedded(image: Any) -> bytes:
    try:
        return read_image_bytes(image)
    except OSError as error:
        raise CollectionImportError(
            f"cannot read {image.relative} for --embed: {error.strerror or error}"
        ) from error


def _publish_with_array_images(
    store: Store,
    spec: NewCollection,
    rows: RowSource,
    table: TableFile,
    image_column: str,
    id_column: str | None,
    replace: bool,
) -> None:
    """Array cells of a Parquet image column, stored as ``.npy`` blobs (chunk by chunk)."""
    id_sql = quote(id_column) if id_column else "row_number() OVER () - 1"
    with store.transaction() as con:
        publish_collection(store, spec, rows, replace=replace)
        cells = con.execute(
            f"SELECT {id_sql} AS id, {quote(image_column)} AS cell FROM {table.reader_sql}",
            [table.reader_path],
        )
        chunks: list[tuple[NDArray[np.int64], NDArray[np.object_]]] = []
        while batch := cells.fetchmany(EMBED_CHUNK):
            chunks.append(
                (
                    np.array([int(r[0]) for r in batch], dtype=np.int64),
                    np.array([_npy_bytes(r[1]) for r in batch], dtype=object),
                )
            )
        for ids, blobs in chunks:
            con.register("abae_blobs", {"id": ids, "blob": blobs})
            try:
                con.execute(
                    f"UPDATE {quote(spec.name)} AS r SET image_blob = b.blob "
                    "FROM abae_blobs b WHERE r.id = b.id"
                )
            finally:
                con.unregister("abae_blobs")


def _npy_bytes(value: object) -> bytes | None:
    if value is None:
        return None
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(value), allow_pickle=False)
    return buffer.getvalue()
