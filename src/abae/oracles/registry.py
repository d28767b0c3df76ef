"""Registered oracles and the ``@abae.oracle`` decorator.

An oracle is a Python callable that answers for one record (``batch_size=1``,
the default: called as ``fn(*column_values)``) or for a batch (``batch_size>1``:
called as ``fn(list_of_argument_tuples)`` and returning a list). It returns a
``bool`` (a predicate), a number (a statistic), or a ``(bool, number)`` pair.

Example:
    >>> import abae  # doctest: +SKIP
    >>> @abae.oracle("has_red_light", cost=0.002)  # doctest: +SKIP
    ... def has_red_light(image: str) -> bool:
    ...     return detector(image).has("red light")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from abae.oracles.errors import UnknownOracleError
from abae.store.identifiers import validate_identifier

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class OracleSpec:
    """A registered oracle.

    Attributes:
        name: the name queries use (a plain identifier).
        fn: the callable.
        cost: cost of one call per record (any unit, e.g. dollars; recorded in the ledger).
        batch_size: records per call (1 = ``fn(*args)`` per record).
        max_concurrency: most calls in flight at once (``None`` = the runtime's default).
    """

    name: str
    fn: Callable[..., Any]
    cost: float = 0.0
    batch_size: int = 1
    max_concurrency: int | None = None


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
) -> OracleSpec:
    """Register ``fn`` as oracle ``name`` in the active registry and return its spec."""
    validate_identifier(name, what="oracle name")
    if not callable(fn):
        raise ValueError(f"oracle {name!r} must be callable, got {type(fn).__name__}")
    if cost < 0:
        raise ValueError(f"oracle {name!r}: cost must be >= 0, got {cost}")
    if batch_size < 1:
        raise ValueError(f"oracle {name!r}: batch_size must be >= 1, got {batch_size}")
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"oracle {name!r}: max_concurrency must be >= 1, got {max_concurrency}")
    spec = OracleSpec(name, fn, float(cost), int(batch_size), max_concurrency)
    default_registry().add(spec)
    return spec


def oracle(
    name: str, *, cost: float = 0.0, batch_size: int = 1, max_concurrency: int | None = None
) -> Callable[[F], F]:
    """Decorator: register the function as oracle ``name`` (see :class:`OracleSpec`)."""

    def decorate(fn: F) -> F:
        register_oracle(name, fn, cost=cost, batch_size=batch_size, max_concurrency=max_concurrency)
        return fn

    return decorate
