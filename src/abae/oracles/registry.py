"""Registered oracles and the ``@abae.oracle`` decorator.

An oracle is a Python callable that answers for one record (``batch_size=1``,
the default: called as ``fn(*column_values)``) or for a batch (``batch_size>1``:
called as ``fn(list_of_argument_tuples)`` and returning a list). It returns a
``bool`` (a predicate), a number (a statistic), a ``(bool, number)`` pair, or
one of a declared list of category names. ``returns`` declares which, so a
query that compares a yes/no oracle with a number is refused before any call;
the default ``"any"`` leaves the check to each answer.

Example:
    >>> import abae  # doctest: +SKIP
    >>> @abae.oracle("has_red_light", cost=0.002)  # doctest: +SKIP
    ... def has_red_light(image: str) -> bool:
    ...     return detector(image).has("red light")
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from abae.oracles.errors import UnknownOracleError
from abae.store.identifiers import validate_identifier
from abae.store.ledger import oracle_key

F = TypeVar("F", bound=Callable[..., Any])

OracleReturns = Literal["any", "bool", "number", "pair", "category"]
"""What an oracle answers: ``"bool"`` (a predicate), ``"number"`` (a statistic),
``"pair"`` (``(bool, number)``), ``"category"`` (one of ``categories``), or
``"any"`` (undeclared: each answer is checked when it arrives)."""

ORACLE_RETURNS: tuple[str, ...] = get_args(OracleReturns)

DEFAULT_TIMEOUT_S = 60.0
"""Deadline of one oracle call unless the oracle sets ``timeout_s`` (seconds)."""


@dataclass(frozen=True)
class OracleSpec:
    """A registered oracle.

    Attributes:
        name: the name queries use (a plain identifier).
        fn: the callable.
        cost: cost of one call per record (any unit, e.g. dollars; recorded in the ledger).
        batch_size: records per call (1 = ``fn(*args)`` per record).
        max_concurrency: most calls in flight at once (``None`` = the runtime's default).
        returns: what the oracle answers (see :data:`OracleReturns`).
        categories: the category names of a ``returns="category"`` oracle.
        timeout_s: deadline of one call (seconds). A call still running then is
            abandoned (its thread is left to finish on its own) and its records fail.
        version: what determines the answers besides the name (e.g. a hash of the
            model and the prompt); labels are cached per (name, version), so a new
            version never reuses old labels. ``""``: unversioned.
        max_cost: the most one call may cost per record (money; the worst case
            reserved against a money cap before the call). ``None``: ``cost``.
        description: what the version stands for (shown by ``abae labels``; no secrets).
    """

    name: str
    fn: Callable[..., Any]
    cost: float = 0.0
    batch_size: int = 1
    max_concurrency: int | None = None
    returns: OracleReturns = "any"
    categories: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    version: str = ""
    max_cost: float | None = None
    description: str = ""

    @property
    def key(self) -> str:
        """The ledger key: ``name``, or ``name@version``."""
        return oracle_key(self.name, self.version)

    @property
    def worst_case_cost(self) -> float:
        """Money reserved per record before a call (``max_cost``, else ``cost``)."""
        return self.cost if self.max_cost is None else self.max_cost


class OracleRegistry:
    """Oracles by name."""

    def __init__(self) -> None:
        self._specs: dict[str, OracleSpec] = {}

    def add(self, spec: OracleSpec) -> None:
        """Register ``spec`` (a name registered twice keeps the last one)."""
        self._specs[spec.name.lower()] = spec

    def get(self, name: str) -> OracleSpec:
        try:
            return self._specs[name.lower()]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownOracleError(f"no oracle named {name!r} (registered: {known})") from None

    def names(self) -> list[str]:
        return sorted(spec.name for spec in self._specs.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._specs

    def __len__(self) -> int:
        return len(self._specs)


_active: list[OracleRegistry] = [OracleRegistry()]


def default_registry() -> OracleRegistry:
    """The registry ``@abae.oracle`` currently writes to."""
    return _active[-1]


@contextmanager
def collecting_into(registry: OracleRegistry) -> Iterator[OracleRegistry]:
    """Make ``@abae.oracle`` register into ``registry`` inside the ``with`` block."""
    _active.append(registry)
    try:
        yield registry
    finally:
        _active.remove(registry)


def register_oracle(
    name: str,
    fn: Callable[..., Any],
    *,
    cost: float = 0.0,
    batch_size: int = 1,
    max_concurrency: int | None = None,
    returns: OracleReturns | list[str] | tuple[str, ...] = "any",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    version: str = "",
    max_cost: float | None = None,
    description: str = "",
) -> OracleSpec:
    """Register ``fn`` as oracle ``name`` in the active registry and return its spec.

    ``returns`` is one of :data:`OracleReturns`, or a list of category names
    (shorthand for ``returns="category"`` with those categories). The other
    arguments are the fields of :class:`OracleSpec`.
    """
    validate_identifier(name, what="oracle name")
    if not callable(fn):
        raise ValueError(f"oracle {name!r} must be callable, got {type(fn).__name__}")
    if not (math.isfinite(cost) and cost >= 0):
        raise ValueError(f"oracle {name!r}: cost must be >= 0, got {cost}")
    if batch_size < 1:
        raise ValueError(f"oracle {name!r}: batch_size must be >= 1, got {batch_size}")
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"oracle {name!r}: max_concurrency must be >= 1, got {max_concurrency}")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(
            f"oracle {name!r}: timeout_s must be a positive number of seconds, got {timeout_s}"
        )
    if max_cost is not None and not (math.isfinite(max_cost) and max_cost >= 0):
        raise ValueError(f"oracle {name!r}: max_cost must be >= 0, got {max_cost}")
    oracle_key(name, version)
    kind, categories = _check_returns(name, returns)
    spec = OracleSpec(
        name,
        fn,
        float(cost),
        int(batch_size),
        max_concurrency,
        kind,
        categories,
        timeout_s=float(timeout_s),
        version=version,
        max_cost=None if max_cost is None else float(max_cost),
        description=description,
    )
    default_registry().add(spec)
    return spec


def _check_returns(
    name: str, returns: OracleReturns | list[str] | tuple[str, ...]
) -> tuple[OracleReturns, tuple[str, ...]]:
    if isinstance(returns, list | tuple):
        categories = tuple(returns)
        if not categories or not all(isinstance(c, str) and c for c in categories):
            raise ValueError(
                f"oracle {name!r}: returns must name at least one category (non-empty "
                f"strings), got {list(returns)!r}"
            )
        if len(set(categories)) != len(categories):
            raise ValueError(f"oracle {name!r}: categories repeat in {list(categories)!r}")
        return "category", categories
    if returns not in ORACLE_RETURNS:
        raise ValueError(
            f"oracle {name!r}: returns must be one of {list(ORACLE_RETURNS)} or a list of "
            f"category names, got {returns!r}"
        )
    if returns == "category":
        raise ValueError(
            f"oracle {name!r}: give the category names, e.g. returns=['car', 'bus', 'truck']"
        )
    return returns, ()


def oracle(
    name: str,
    *,
    cost: float = 0.0,
    batch_size: int = 1,
    max_concurrency: int | None = None,
    returns: OracleReturns | list[str] | tuple[str, ...] = "any",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    version: str = "",
) -> Callable[[F], F]:
    """Decorator: register the function as oracle ``name`` (see :class:`OracleSpec`).

    ``version`` names what the answers depend on besides the code's name (bump it
    when the oracle changes, so the ledger's old labels are not reused).
    """

    def decorate(fn: F) -> F:
        register_oracle(
            name,
            fn,
            cost=cost,
            batch_size=batch_size,
            max_concurrency=max_concurrency,
            returns=returns,
            timeout_s=timeout_s,
            version=version,
        )
        return fn

    return decorate
