"""The usage examples in the query language's docstrings (and the labeller's) run as shown."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import abae.query

MODULES = [
    *sorted(f"abae.query.{info.name}" for info in pkgutil.iter_modules(abae.query.__path__)),
    "abae.engine.labeller",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
