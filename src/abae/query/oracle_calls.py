"""Oracle calls in a query: which names are oracles, what they return, and their arguments.

The compiler accepts the oracles as the registry's specs (an
:class:`~abae.oracles.registry.OracleRegistry` or a mapping of name to
:class:`~abae.oracles.registry.OracleSpec`) or as a plain collection of names
(then nothing is known of what they return: ``"any"``).

Example:
    >>> sorted(signatures(["has_red_light"]).values())
    [OracleSignature(name='has_red_light', returns='any', categories=())]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlglot import exp

from abae.query.plan import OracleCall
from abae.query.sql_emitter import SqlEmitter, fail
from abae.store.identifiers import validate_identifier

_RETURNS = ("any", "bool", "number", "pair", "category")
_RETURNS_TEXT = {
    "bool": "TRUE/FALSE",
    "number": "a number",
    "pair": "a (TRUE/FALSE, number) pair",
    "category": "a category",
    "any": "an undeclared value",
}


class _SpecLike(Protocol):
    name: str
    returns: Any
    categories: Any


class _RegistryLike(Protocol):
    def names(self) -> list[str]: ...

    def get(self, name: str) -> Any: ...


OracleDeclarations = Mapping[str, Any] | Collection[str] | _RegistryLike
"""What :func:`signatures` accepts: a registry, name → spec, or names."""


@dataclass(frozen=True, order=True)
class OracleSignature:
    """What the compiler knows of an oracle.

    Attributes:
        name: the registered name (its spelling).
        returns: ``"bool"``, ``"number"``, ``"pair"``, ``"category"`` or ``"any"``.
        categories: the category names of a ``"category"`` oracle.
    """

    name: str
    returns: str
    categories: tuple[str, ...] = ()

    def describe(self) -> str:
        """``"a category ('car', 'bus')"``, ``"TRUE/FALSE"``, ... for messages."""
        text = _RETURNS_TEXT.get(self.returns, self.returns)
        if self.categories:
            text += " (" + ", ".join(repr(c) for c in self.categories) + ")"
        return text


def signatures(oracles: OracleDeclarations) -> dict[str, OracleSignature]:
    """Lower-case name → :class:`OracleSignature` for every declared oracle."""
    found: dict[str, OracleSignature] = {}
    if hasattr(oracles, "names") and hasattr(oracles, "get"):
        registry: _RegistryLike = oracles  # type: ignore[assignment]
        specs = [registry.get(name) for name in registry.names()]
    elif isinstance(oracles, Mapping):
        specs = list(oracles.values())
    else:
        specs = list(oracles)
    for spec in specs:
        signature = _signature(spec)
        found[signature.name.lower()] = signature
    return found


def _signature(spec: str | _SpecLike) -> OracleSignature:
    if isinstance(spec, str):
        return OracleSignature(spec, "any")
    returns = str(getattr(spec, "returns", "any") or "any")
    if returns not in _RETURNS:
        returns = "any"
    categories = tuple(str(c) for c in (getattr(spec, "categories", ()) or ()))
    if returns == "category" and not categories:
        returns = "any"
    return OracleSignature(str(spec.name), returns, categories)


class OracleResolver:
    """Resolves ``name(column, ...)`` nodes to :class:`OracleCall` and records which are used.

    Args:
        oracles: lower-case name → signature.
        emitter: checks the argument columns.
    """

    def __init__(self, oracles: Mapping[str, OracleSignature], emitter: SqlEmitter) -> None:
        self.oracles = oracles
        self.emitter = emitter
        self.used: dict[str, None] = {}

    @staticmethod
    def is_call(node: exp.Expr) -> bool:
        """Whether ``node`` is a call of a user function (an oracle, if it is registered)."""
        return isinstance(node, exp.Anonymous)

    @staticmethod
    def has_call(node: exp.Expr) -> bool:
        """Whether an oracle call appears anywhere in ``node``."""
        return any(isinstance(n, exp.Anonymous) for n in node.walk())

    def resolve(self, node: exp.Expr) -> tuple[OracleCall, OracleSignature]:
        """The call and the oracle's signature.

        Raises:
            QueryCompileError: unknown oracle, or an argument that is not a column.
        """
        assert isinstance(node, exp.Anonymous)
        name = str(node.this)
        signature = self.oracles.get(name.lower())
        if signature is None:
            known = ", ".join(sorted(s.name for s in self.oracles.values()))
            raise fail(
                node,
                f"unknown function {name!r}; expected a registered oracle: "
                f"{known or 'none (pass --oracles FILE.py)'}",
            )
        args = []
        for arg in node.expressions:
            if not isinstance(arg, exp.Column) or isinstance(arg.this, exp.Star):
                raise fail(
                    arg, f"oracle {name!r} takes column names as arguments, got {arg.sql()!r}"
                )
            args.append(self.emitter.column_name(arg))
        validate_identifier(signature.name, what="oracle name")
        self.used[signature.name] = None
        return OracleCall(signature.name, tuple(args)), signature
