"""The DuckDB store: record collections, proxy score columns, the label ledger and the query log.

One embedded DuckDB file holds everything. DuckDB lets one process at a time
have a file open, so a process opens the store only while it works on it,
under an OS lock beside the file that other processes wait for in turn
(:mod:`abae.store.connection`, :mod:`abae.store.store_lock`). Imports are
atomic (:mod:`abae.store.collection_publish`). See ``docs/store.md``.
"""

from __future__ import annotations

from abae.store.collection_publish import CollectionImportError
from abae.store.connection import LockHolder, Store, StoreBusyError
from abae.store.identifiers import validate_identifier
from abae.store.importers import (
    SkippedFileWarning,
    import_arrays,
    import_image_folder,
    import_npz,
    import_table_file,
)
from abae.store.json_export import export_json
from abae.store.ledger import Claim, ClaimOwner, Label, LabelLedger, LedgerSummary, summarize_ledger
from abae.store.location import DEFAULT_DB_FILENAME, check_store_path, resolve_db_path
from abae.store.query_log import QueryLog, QueryLogEntry
from abae.store.records import RecordBatch, RecordCollection, list_collections
from abae.store.video import import_video

__all__ = [
    "DEFAULT_DB_FILENAME",
    "Claim",
    "ClaimOwner",
    "CollectionImportError",
    "Label",
    "LabelLedger",
    "LedgerSummary",
    "LockHolder",
    "QueryLog",
    "QueryLogEntry",
    "RecordBatch",
    "RecordCollection",
    "SkippedFileWarning",
    "Store",
    "StoreBusyError",
    "check_store_path",
    "export_json",
    "import_arrays",
    "import_image_folder",
    "import_npz",
    "import_table_file",
    "import_video",
    "list_collections",
    "resolve_db_path",
    "summarize_ledger",
    "validate_identifier",
]
