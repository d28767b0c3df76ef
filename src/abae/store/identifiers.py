"""Validated SQL identifiers: the only names ever spliced into SQL text (always double-quoted).

Example:
    >>> quote(validate_identifier("red_light_score"))
    '"red_light_score"'
    >>> validate_identifier('x"; DROP TABLE abae_labels; --', what="column name")
    Traceback (most recent call last):
    ...
    abae.store.identifiers.InvalidIdentifierError: invalid column name 'x"; DROP TABLE abae_labels; --': use letters, ...
"""

from __future__ import annotations

import re

from abae.errors import AbaeError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
RESERVED_PREFIX = "abae_"


class InvalidIdentifierError(AbaeError, ValueError):
    """A table, column or oracle name that is not a plain identifier."""


def validate_identifier(name: str, *, what: str = "identifier") -> str:
    """Return ``name`` if it is a plain identifier (letters, digits, ``_``; not leading digit; ≤ 63 chars).

    Raises:
        InvalidIdentifierError: otherwise, saying which name and why.
    """
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        raise InvalidIdentifierError(
            f"invalid {what} {name!r}: use letters, digits and '_' only, not starting "
            "with a digit, at most 63 characters"
        )
    return name


def validate_user_table(name: str) -> str:
    """Like :func:`validate_identifier`, also refusing the store's own ``abae_*`` tables."""
    validate_identifier(name, what="collection name")
    if name.lower().startswith(RESERVED_PREFIX):
        raise InvalidIdentifierError(
            f"collection name {name!r} is reserved: names starting with {RESERVED_PREFIX!r} "
            "belong to the store itself; pick another name"
        )
    return name


def quote(name: str) -> str:
    """``"name"`` for a name already validated by :func:`validate_identifier`."""
    validate_identifier(name)
    return f'"{name}"'
