"""The usage examples in the store's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "abae.store.collection_publish",
    "abae.store.connection",
    "abae.store.identifiers",
    "abae.store.image_folder",
    "abae.store.import_progress",
    "abae.store.importers",
    "abae.store.json_export",
    "abae.store.location",
    "abae.store.png_encoding",
    "abae.store.staging",
    "abae.store.store_lock",
    "abae.store.table_files",
    "abae.store.video",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0, f"{name} lost its docstring examples"
    assert failures == 0
