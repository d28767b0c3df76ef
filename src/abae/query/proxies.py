"""How a query ranks its records: the ``USING`` proxy, the one derived from ``WHERE``, per-group proxies.

Rules, in order:

1. ``USING expr``: an expression over numeric columns (usually proxy score
   columns); ``AND``/``OR``/``NOT`` between scores mean product,
   ``1 - Π(1 - s)`` and ``1 - s``.
2. Without ``USING``, the ranking is derived from ``WHERE``: an oracle
   predicate ``f(...)`` (or a condition on ``f``'s output) uses the proxy
   column named ``f``, ``f_proxy`` or ``proxy_f``; cheap conditions count as
   0/1; combined as in rule 1. Without an oracle in ``WHERE``, the first
   aggregate's oracle's proxy column is used.
3. ``GROUP BY`` an oracle output ``g(...)`` with categories ``c1, c2, ...``:
   each group ranks the records by its own proxy when one is given:

   - ``USING (c1: expr1, c2: expr2, ...)`` names one per category (every
     category once; quote names that are not identifiers: ``'pick-up': p_pickup``);
   - ``USING p`` uses the columns ``p_c1, p_c2, ...`` when they all exist,
     else ``p`` for every group;
   - without ``USING``, the columns ``g_c1, g_c2, ...`` when they all exist,
     else the proxy of rule 2 for every group.

   The query's own ranking (``QueryPlan.proxy``) is then ``p`` if it is a
   column, else the greatest of the per-group scores.

Example:
    >>> per_group_columns("p", ("car", "bus"), ["id", "p_car", "P_BUS"])
    ('p_car', 'P_BUS')
    >>> per_group_columns("p", ("car", "pick-up"), ["p_car", "p_pick-up"]) is None
    True
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from sqlglot import exp

from abae.query.dialect import GroupProxyMap
from abae.query.errors import QueryCompileError
from abae.query.oracle_calls import OracleDeclarations, signatures
from abae.query.plan import (
    AllOf,
    AnyOf,
    CheapTest,
    NoneOf,
    OracleCondition,
    OracleTest,
    Predicate,
    SqlFragment,
)
from abae.query.sql_emitter import SqlEmitter, fail, text_of
from abae.query.sql_types import kind_of_type
from abae.store.identifiers import InvalidIdentifierError, validate_identifier


def per_group_columns(
    prefix: str, categories: Sequence[str], columns: Collection[str]
) -> tuple[str, ...] | None:
    """The columns ``<prefix>_<category>`` for every category (stored spelling), or ``None``.

    ``None`` when one is missing, or when a category cannot be part of a column
    name (e.g. ``'pick-up'``; use ``USING (category: proxy, ...)`` then).
    """
    stored = {c.lower(): c for c in columns}
    found = []
    for category in categories:
        name = f"{prefix}_{category}"
        try:
            validate_identifier(name)
        except InvalidIdentifierError:
            return None
        if name.lower() not in stored:
            return None
        found.append(stored[name.lower()])
    return tuple(found)


def missing_proxies(
    tree: exp.Select, columns: Collection[str], oracles: OracleDeclarations = ()
) -> list[str]:
    """Names the ``USING`` clause reads that are not columns (proxies to train first).

    A ``USING p`` whose per-group columns ``p_<category>`` all exist (rule 3 of
    the module docstring) is not missing.

    Args:
        tree: the parsed query.
        columns: the collection's column names.
        oracles: the registered oracles (to find the categories of a ``GROUP BY``
            oracle); names only, or nothing, when there is none.
    """
    proxy = tree.args.get("proxy")
    if proxy is None:
        return []
    known = {c.lower() for c in columns}
    categories = group_categories(tree, oracles)
    if (
        isinstance(proxy, exp.Column)
        and categories
        and per_group_columns(proxy.name, categories, columns) is not None
    ):
        return []
    names = [c.name for c in proxy.find_all(exp.Column)]
    return list(dict.fromkeys(n for n in names if n.lower() not in known))


def group_categories(tree: exp.Select, oracles: OracleDeclarations) -> tuple[str, ...]:
    """The declared categories of the query's ``GROUP BY`` oracle, or ``()`` if it has none."""
    group = tree.args.get("group")
    if group is None:
        return ()
    aliases = {
        item.alias.lower(): item.this
        for item in tree.expressions
        if isinstance(item, exp.Alias) and item.alias
    }
    known = signatures(oracles)
    for node in group.expressions:
        if isinstance(node, exp.Column) and node.name.lower() in aliases:
            node = aliases[node.name.lower()]
        if isinstance(node, exp.Anonymous):
            signature = known.get(str(node.this).lower())
            if signature is not None:
                return signature.categories
    return ()


class ProxyPlanner:
    """Chooses the ranking score(s) of one query and records the proxy columns they read.

    Args:
        table: the collection.
        columns: column name (lower case) → (stored name, DuckDB type).
        proxies: the collection's registered proxy score columns.
    """

    def __init__(
        self, table: str, columns: Mapping[str, tuple[str, str]], proxies: Collection[str]
    ) -> None:
        self.table = table
        self.columns = columns
        self.proxies = {p.lower(): p for p in proxies}
        self.used: dict[str, None] = {}
        self.emitter = SqlEmitter(table, columns, logic="probability", on_column=self._on_column)

    @property
    def proxy_columns(self) -> tuple[str, ...]:
        """Registered proxy columns read so far, in first-use order."""
        return tuple(self.used)

    def _on_column(self, column: exp.Column, name: str) -> None:
        sql_type = self.columns.get(name.lower(), (name, "DOUBLE"))[1]
        if kind_of_type(sql_type) not in ("number", "boolean"):
            raise fail(column, f"USING needs numeric proxy columns; {name!r} is {sql_type.upper()}")
        if name.lower() in self.proxies:
            self.used[self.proxies[name.lower()]] = None

    def _column(self, name: str) -> SqlFragment:
        self._on_column(exp.column(name), name)
        return SqlFragment(f'"{name}"')

    def known_proxies(self) -> str:
        return ", ".join(sorted(self.proxies.values())) or "none"

    # --- one ranking ------------------------------------------------------------------

    def using(self, node: exp.Expr) -> tuple[SqlFragment, str]:
        """``USING expr``: the score and its text."""
        if any(isinstance(n, exp.Anonymous) for n in node.walk()):
            raise fail(node, "USING takes proxy columns, not oracle calls")
        if isinstance(node, GroupProxyMap):
            raise fail(
                node,
                "USING (category: proxy, ...) gives one proxy per group; it needs GROUP BY an "
                "oracle that returns categories",
            )
        return self.emitter.emit(node, expect="number", context="USING"), text_of(node)

    def for_oracle(self, oracle: str) -> str | None:
        """The proxy column named after an oracle (``f``, ``f_proxy``, ``proxy_f``), if any."""
        for candidate in (oracle, f"{oracle}_proxy", f"proxy_{oracle}"):
            if candidate.lower() in self.proxies:
                return self.proxies[candidate.lower()]
        return None

    def derived(self, predicate: Predicate) -> tuple[SqlFragment, str]:
        """The ranking derived from ``WHERE`` (rule 2 of the module docstring).

        Raises:
            QueryCompileError: an oracle in it has no proxy column.
        """
        if isinstance(predicate, CheapTest):
            return (
                SqlFragment(
                    f"CAST(coalesce(({predicate.fragment.sql}), FALSE) AS DOUBLE)",
                    predicate.fragment.params,
                ),
                f"[{predicate.text}]",
            )
        if isinstance(predicate, OracleTest | OracleCondition):
            calls = (predicate.call,) if isinstance(predicate, OracleTest) else predicate.calls
            for call in calls:
                column = self.for_oracle(call.name)
                if column is not None:
                    return self._column(column), column
            names = " or ".join(repr(c.name) for c in calls)
            raise QueryCompileError(
                f"expected USING <proxy>: no proxy score column for oracle {names} "
                f"(proxies in {self.table!r}: {self.known_proxies()})",
                1,
                1,
            )
        if isinstance(predicate, NoneOf):
            inner, text = self.derived(predicate.part)
            return SqlFragment(f"(1.0 - {inner.sql})", inner.params), f"NOT {text}"
        assert isinstance(predicate, AllOf | AnyOf)
        pieces = [self.derived(p) for p in predicate.parts]
        params = tuple(p for fragment, _ in pieces for p in fragment.params)
        if isinstance(predicate, AllOf):
            sql = " * ".join(f.sql for f, _ in pieces)
            return SqlFragment(f"({sql})", params), " AND ".join(t for _, t in pieces)
        sql = " * ".join(f"(1.0 - {f.sql})" for f, _ in pieces)
        return SqlFragment(f"(1.0 - {sql})", params), " OR ".join(t for _, t in pieces)

    def for_oracles(self, oracles: Sequence[str]) -> tuple[SqlFragment, str]:
        """The first of these oracles' proxy columns.

        Raises:
            QueryCompileError: none has one.
        """
        for oracle in oracles:
            column = self.for_oracle(oracle)
            if column is not None:
                return self._column(column), column
        raise QueryCompileError(
            "expected USING <proxy>: no proxy score column matches the query's oracles "
            f"(proxies in {self.table!r}: {self.known_proxies()})",
            1,
            1,
        )

    # --- per group --------------------------------------------------------------------

    def group_map(
        self, node: GroupProxyMap, oracle: str, categories: Sequence[str]
    ) -> list[tuple[SqlFragment, str]]:
        """``USING (category: score, ...)``: one score per category, in category order."""
        chosen: dict[str, tuple[SqlFragment, str]] = {}
        for entry in node.expressions:
            key = entry.this
            category = _category(key, categories)
            if category is None:
                listed = ", ".join(repr(c) for c in categories)
                raise fail(
                    key,
                    f"{key.name!r} is not a category of oracle {oracle!r}; expected one of {listed}",
                )
            if category in chosen:
                raise fail(key, f"USING gives a proxy for {category!r} twice")
            score = entry.expression
            if any(isinstance(n, exp.Anonymous) for n in score.walk()):
                raise fail(score, "USING takes proxy columns, not oracle calls")
            chosen[category] = (
                self.emitter.emit(score, expect="number", context="USING"),
                text_of(score),
            )
        missing = [c for c in categories if c not in chosen]
        if missing:
            raise fail(
                node,
                "USING (category: proxy, ...) needs a proxy for every category of oracle "
                f"{oracle!r}; missing: {', '.join(repr(c) for c in missing)}",
            )
        return [chosen[c] for c in categories]

    def group_columns(
        self, prefix: str, categories: Sequence[str]
    ) -> list[tuple[SqlFragment, str]] | None:
        """The per-group columns ``<prefix>_<category>``, if they all exist."""
        stored = [name for name, _ in self.columns.values()]
        found = per_group_columns(prefix, categories, stored)
        if found is None:
            return None
        return [(self._column(name), name) for name in found]

    def greatest(self, scores: list[tuple[SqlFragment, str]]) -> tuple[SqlFragment, str]:
        """The greatest of several scores (a record's best chance to be in some group)."""
        if len(scores) == 1:
            return scores[0]
        sql = "greatest(" + ", ".join(f"CAST({f.sql} AS DOUBLE)" for f, _ in scores) + ")"
        params = tuple(p for f, _ in scores for p in f.params)
        return SqlFragment(sql, params), "greatest(" + ", ".join(t for _, t in scores) + ")"


def _category(key: exp.Expr, categories: Sequence[str]) -> str | None:
    """The category a ``USING (key: ...)`` key names: exact spelling, else a unique case-blind match."""
    name = key.name
    if name in categories:
        return name
    if isinstance(key, exp.Literal):
        return None
    matches = [c for c in categories if c.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None
