"""``--pilot N|auto``, shared by ``abae proxy train``, ``abae query`` and ``abae demo``."""

from __future__ import annotations

import argparse

import pytest

from abae.cli.pilot_option import pilot_size


@pytest.mark.parametrize(("text", "expected"), [("auto", "auto"), ("AUTO", "auto"), ("250", 250)])
def test_pilot_option_takes_a_size_or_auto(text: str, expected: object) -> None:
    assert pilot_size(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("3", "at least 4 labels"), ("-5", "at least 4 labels"), ("many", "a number or 'auto'"),
     ("", "a number or 'auto'")],
)  # fmt: skip
def test_pilot_option_rejects_anything_else(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        pilot_size(text)
