"""Proxies a query names but the store lacks, and the hook that trains them.

``USING afno_proxy`` may name a proxy that has no score column yet. Without a
trainer that is an error saying how to train it; with one (``abae query
--train-proxy``), the engine hands the trainer a :class:`ProxyTrainingRequest`
before sampling: the pilot labels it buys are charged to the query's own id, so
they count against the query's ``ORACLE LIMIT``.

The engine stays free of torch: the trainer is any callable (the AFNO one is
:class:`abae.proxy.store_pipeline.QueryProxyTrainer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlglot import exp

from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry
from abae.query.compiler import CollectionInfo, compile_query
from abae.query.plan import OracleCall, first_oracle_test
from abae.query.proxies import missing_proxies as query_missing_proxies
from abae.store.connection import Store


class MissingProxyError(AbaeError):
    """A query's ``USING`` names a proxy that the store does not hold."""


@dataclass(frozen=True)
class ProxyTrainingRequest:
    """What a trainer needs to create proxy ``proxy`` for a query.

    Attributes:
        store: the store holding ``collection``.
        collection: the records to label and score.
        proxy: the proxy (score column) name the query uses.
        predicate: the oracle call a classifier proxy learns (the first oracle
            test of WHERE), or ``None`` when the query has no oracle predicate.
        statistic: the oracle call of the first aggregate's statistic, or ``None``.
        query_id: pilot labels are charged to this query.
        budget: the query's ``ORACLE LIMIT``; the pilot must leave room for sampling.
        seed: the query's sampling seed.
        oracles: the registered oracles.
    """

    store: Store
    collection: str
    proxy: str
    predicate: OracleCall | None
    statistic: OracleCall | None
    query_id: str
    budget: int
    seed: int
    oracles: OracleRegistry


class ProxyTrainer(Protocol):
    """Creates the score column ``request.proxy`` (and its pilot set) in the store; what it
    returns (e.g. the trained proxy) is the trainer's own business."""

    def __call__(self, request: ProxyTrainingRequest) -> object: ...


def missing_proxies(
    tree: exp.Select, catalog: Mapping[str, CollectionInfo], oracles: OracleRegistry
) -> list[str]:
    """Names the query's ``USING`` clause reads that its collection does not hold yet."""
    info = catalog.get(collection_of(tree) or "")
    if info is None:
        return []
    return query_missing_proxies(tree, list(info.columns), oracles)


def collection_of(tree: exp.Select) -> str | None:
    """The collection named in ``FROM``, or ``None``."""
    table = tree.args.get("from_")
    found = next(iter(table.find_all(exp.Table)), None) if table is not None else None
    return found.name if found is not None else None


def request_for(
    sql: str,
    tree: exp.Select,
    catalog: Mapping[str, CollectionInfo],
    oracles: OracleRegistry,
    proxy: str,
    *,
    store: Store,
    query_id: str,
    seed: int,
    missing: list[str],
) -> ProxyTrainingRequest:
    """Compile ``sql`` as if the missing proxies existed and describe what to train."""
    pretend = dict(catalog)
    tree_table = collection_of(tree)
    if tree_table is None or tree_table not in catalog:
        raise MissingProxyError(f"cannot train proxy {proxy!r}: unknown collection in {sql!r}")
    info = catalog[tree_table]
    pretend[tree_table] = CollectionInfo(
        {**dict(info.columns), **{name: "DOUBLE" for name in missing}},
        [*info.proxies, *missing],
    )
    plan = compile_query(sql, pretend, oracles, tree=tree)
    predicate = first_oracle_test(plan.predicate)
    statistic = next((a.oracle for a in plan.aggregates if a.oracle is not None), None)
    return ProxyTrainingRequest(
        store=store,
        collection=plan.collection,
        proxy=proxy,
        predicate=predicate,
        statistic=statistic,
        query_id=query_id,
        budget=plan.budget,
        seed=seed,
        oracles=oracles,
    )


def missing_proxy_message(collection: str, names: list[str]) -> str:
    """The error for a query whose proxies are missing, saying how to create them."""
    listed = ", ".join(repr(n) for n in names)
    return (
        f"USING names proxy {listed}, which collection {collection!r} does not have yet; "
        f"train it first with `abae proxy train {collection} --name {names[0]} --oracle "
        "'predicate(image)' --oracles FILE.py`, score a checkpoint with `abae proxy score`, "
        "or rerun the query with --train-proxy to train it on pilot labels from the query's budget"
    )
