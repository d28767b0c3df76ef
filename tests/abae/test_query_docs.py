"""The query-language section of docs/engine.md: its SQL examples compile as shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from abae.oracles.registry import OracleSpec
from abae.query import CollectionInfo, compile_query

PAGE = Path(__file__).resolve().parents[2] / "docs" / "engine.md"
COLUMNS = {
    "id": "BIGINT",
    "image": "VARCHAR",
    "image_blob": "BLOB",
    "camera": "VARCHAR",
    "speed": "DOUBLE",
    "price": "DOUBLE",
    **{name: "DOUBLE" for name in ("p", "p_red", "p_car", "p_bus", "p_truck", "red_light_score")},
}
CATALOG = {
    "frames": CollectionInfo(COLUMNS, [c for c in COLUMNS if c.startswith("p") or "score" in c])
}


def _spec(name: str, returns: object) -> OracleSpec:
    if isinstance(returns, list):
        return OracleSpec(name, print, returns="category", categories=tuple(returns))
    return OracleSpec(name, print, returns=returns)  # type: ignore[arg-type]


ORACLES = {
    "has_red_light": _spec("has_red_light", "bool"),
    "has_car": _spec("has_car", "bool"),
    "count_cars": _spec("count_cars", "number"),
    "vehicle_type": _spec("vehicle_type", ["car", "bus", "truck"]),
}


def _examples() -> list[str]:
    text = PAGE.read_text()
    section = text[text.index("## Query language") : text.index("## Oracle files")]
    queries = []
    for block in re.findall(r"```sql\n(.*?)```", section, flags=re.S):
        lines = [re.sub(r"\s+--.*$", "", line).rstrip() for line in block.splitlines()]
        if lines[0].startswith("WHERE"):
            queries += [f"SELECT COUNT(*) FROM frames {w} ORACLE LIMIT 10 USING p" for w in lines]
            continue
        statement: list[str] = []
        for line in lines:
            if line.startswith("SELECT") and statement:
                queries.append("\n".join(statement))
                statement = []
            statement.append(line)
        queries.append("\n".join(statement))
    return queries


def test_the_page_has_examples() -> None:
    assert len(_examples()) >= 8


@pytest.mark.parametrize("sql", _examples())
def test_documented_examples_compile(sql: str) -> None:
    plan = compile_query(sql, CATALOG, ORACLES)
    assert plan.oracles
