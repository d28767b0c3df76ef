"""The usage examples in the sampling core's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import abae.sampling

MODULES = sorted(
    f"abae.sampling.{info.name}" for info in pkgutil.iter_modules(abae.sampling.__path__)
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
