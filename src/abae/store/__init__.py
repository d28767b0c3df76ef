"""The DuckDB store: record collections, proxy score columns, the label ledger and the query log.

One embedded DuckDB file holds everything. DuckDB lets one process at a time
open a file for writing, so every access is a short transaction that opens the
file, does its work and closes it again; a process that finds the file locked
waits and retries (see :mod:`abae.store.connection`).
"""

from __future__ import annotations

from abae.store.connection import Store, StoreBusyError
from abae.store.identifiers import validate_identifier
from abae.store.importers import import_arrays, import_image_folder, import_table_file
from abae.store.json_export import export_json
from abae.store.ledger import Claim, ClaimOwner, Label, LabelLedger, LedgerSummary, summarize_ledger
from abae.store.location import DEFAULT_DB_FILENAME, resolve_db_path
from abae.store.query_log import QueryLog, QueryLogEntry
from abae.store.records import RecordBatch, RecordCollection, list_collections

__all__ = [
    "DEFAULT_DB_FILENAME",
    "Claim",
    "ClaimOwner",
    "Label",
    "LabelLedger",
    "LedgerSummary",
    "QueryLog",
    "QueryLogEntry",
    "RecordBatch",
    "RecordCollection",
    "Store",
    "StoreBusyError",
    "export_json",
    "import_arrays",
    "import_image_folder",
    "import_table_file",
    "list_collections",
    "resolve_db_path",
    "summarize_ledger",
    "validate_identifier",
]
