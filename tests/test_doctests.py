"""Every usage example in every module's docstrings, in both libraries, runs as shown.

Modules of optional extras that are not installed are skipped with the reason.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import abae
import afno

MODULES = sorted(
    info.name
    for package in (afno, abae)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    if not info.name.endswith("__main__")
)


def test_every_module_is_collected() -> None:
    assert {"afno.mixers.afno", "abae.sampling.two_stage", "abae.store.ledger"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as error:  # an optional extra (openai, av, onnx, ray, ...) is missing
        pytest.skip(f"{name} needs an extra that is not installed: {error}")
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert failures == 0
