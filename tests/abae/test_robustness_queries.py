"""Generated queries, compiled and executed: only the project's own errors may escape (issue 13).

A grammar generator writes queries over a store with typed columns (text,
integer, float, boolean, timestamp, with NULLs) and registered instant oracles
of every kind (yes/no, number, pair, category, undeclared, one that fails for
some records); a share of them is then mutated token by token. Each query
runs through :class:`abae.engine.Engine` (compile *and* execution); anything
raised other than :class:`abae.errors.AbaeError` (which covers
``QueryParseError`` and ``QueryCompileError``) is a failure, reported with
the query and its traceback. Through the CLI, an error is one line on stderr
and exit status 2.

The default run executes 100 queries; the 1,000-query run is ``-m slow``.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import abae
from abae.cli import main
from abae.engine import Engine
from abae.errors import AbaeError
from abae.oracles.registry import OracleRegistry, collecting_into
from abae.store import Store, import_arrays

N = 90
CATEGORIES = ("car", "bus", "truck")

ORACLE_FILE = """
import abae

CATEGORIES = ("car", "bus", "truck")


@abae.oracle("has_car", returns="bool")
def has_car(rid):
    return rid % 3 != 0


@abae.oracle("count_cars", returns="number")
def count_cars(rid):
    return float(rid % 6)


@abae.oracle("both", returns="pair")
def both(rid):
    return (rid % 2 == 0, None if rid % 10 == 4 else float(rid % 7))


@abae.oracle("vehicle_type", returns=list(CATEGORIES))
def vehicle_type(rid):
    return CATEGORIES[rid % 3]


@abae.oracle("anything")
def anything(rid):
    return (rid % 4 != 1, float(rid % 5))


@abae.oracle("flaky", returns="bool")
def flaky(rid):
    if rid % 7 == 3:
        raise KeyError(f"record {rid} is corrupt")
    return rid % 2 == 1
"""


def _registry() -> OracleRegistry:
    """The oracles of :data:`ORACLE_FILE`, registered in this process."""
    registry = OracleRegistry()
    with collecting_into(registry):
        exec(compile(ORACLE_FILE, "robustness_oracles.py", "exec"), {"abae": abae})
    return registry


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("robustness")
    rng = np.random.default_rng(11)
    k = np.arange(N)
    store = Store(folder / "typed.duckdb")
    import_arrays(
        store,
        "frames",
        columns={
            "camera": np.where(k % 3 == 0, "north", np.where(k % 3 == 1, "south", "it's")),
            "lane": (k % 4).astype(np.int64),
            "speed": rng.random(N) * 60,
            "flag": k % 2 == 0,
        },
        proxies={
            "p": rng.random(N),
            "p_car": rng.random(N),
            "p_bus": rng.random(N),
            "p_truck": rng.random(N),
            "count_cars": rng.random(N),
            "has_car_proxy": rng.random(N),
        },
    )
    with store.transaction() as con:
        con.execute('ALTER TABLE "frames" ADD COLUMN ts TIMESTAMP')
        con.execute(
            "UPDATE \"frames\" SET ts = TIMESTAMP '2024-01-01' + to_hours(CAST(id AS INTEGER))"
        )
        con.execute('UPDATE "frames" SET speed = NULL, camera = NULL, ts = NULL WHERE id % 11 = 5')
    store.close()
    (folder / "oracles.py").write_text(ORACLE_FILE)
    return folder


# --- the generator -------------------------------------------------------------------------

# fmt: off
# What the generator picks from: (good options, options that are wrong on purpose).
NUMBERS = (("speed", "lane", "id", "count_cars(id)", "count_cars(id)", "both(id)",
            "anything(id)", "2", "0", "-1", "1.5", "1e300", "9223372036854775807", "NULL"), ())
TEXTS = (("camera", "vehicle_type(id)", "vehicle_type(id)", "'north'", "'car'", "'bus'",
          "'it''s'", "''"), ("'plane'",))
TIMES = (("ts", "'2024-01-02'", "'2024-01-03 10:00:00'"), ("'someday'", "3"))
ANYTHING = ("camera", "speed", "lane", "flag", "ts", "image", "has_car(id)", "vehicle_type(id)",
            "TRUE", "'x'", "1", "NULL", "nope", "unknown_fn(id)", "has_car(1)", "p")
AGGREGATES = (("COUNT(*)", "AVG", "SUM"), ("COUNT(speed)", "AVG(camera)", "MIN(speed)",
              "SUM(has_car(id))", "AVG(vehicle_type(id))", "AVG(SUM(speed))", "speed"))
TABLES = (("frames",), ("cars", "frames f", "frames JOIN frames ON TRUE"))
ORACLES = ("has_car", "count_cars", "both", "vehicle_type", "anything", "flaky")
GROUP_KEYS = (("camera", "flag", "lane", "vehicle_type(id)", "vehicle_type(id)"),
              ("count_cars(id)", "camera, vehicle_type(id)", "speed + 1"))
BUDGETS = (("12", "25", "40", "60", "5", "1"), ("0", "-3", "1e23", "2.5", "'lots'"))
TARGETS = (("0.05 RELATIVE", "0.2 RELATIVE", "0.5 RELATIVE", "5"),
           ("0", "-1", "2 RELATIVE", "0 RELATIVE"))
CONFIDENCES = (("AT CONFIDENCE 0.9", "WITH PROBABILITY 0.8"),
               ("AT CONFIDENCE 1.5", "AT CONFIDENCE 0.9 WITH PROBABILITY 0.9"))
COSTS = (("5", "0"), ("-2", "1e400"))
PROXIES = (("p", "p", "p * p_car", "p OR has_car_proxy", "sqrt(p)"),
           ("(car: p_car)", "camera", "nope", "count_cars(id)",
            "(car: p_car, bus: p_bus, truck: p_truck)"))
GROUP_PROXIES = (("p", "(car: p_car, bus: p_bus, truck: p_truck)", "p * p_car"),
                 ("(car: p_car)", "(car: p, bus: p, van: p)"))
VOCABULARY = ("SELECT", "FROM", "WHERE", "GROUP", "BY", "AND", "OR", "NOT", "(", ")", ",", "*",
              "=", "<", "'", ";", "ORACLE", "LIMIT", "USING", "ERROR", "WITHIN", "AT",
              "CONFIDENCE", "COST", ":", "1", "-", "count_cars(id)", "camera", "NULL", "IN")
# fmt: on

Options = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass
class QueryWriter:
    """Writes one random query of the dialect.

    Args:
        rng: the source of every choice.
        faults: the chance that a choice takes one of its deliberately wrong options.
    """

    rng: np.random.Generator
    faults: float

    def pick(self, options: Options | tuple[str, ...]) -> str:
        if options and isinstance(options[0], tuple):
            good, bad = options  # type: ignore[misc]
            if bad and self.chance(self.faults):
                return self.one(bad)
            return self.one(good)
        return self.one(options)  # type: ignore[arg-type]

    def one(self, options: tuple[str, ...]) -> str:
        return str(options[int(self.rng.integers(len(options)))])

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def number(self, depth: int = 0) -> str:
        if depth < 2 and self.chance(0.35):
            op = self.one(("+", "-", "*", "/", "%"))
            return f"({self.number(depth + 1)} {op} {self.number(depth + 1)})"
        if depth < 2 and self.chance(0.1):
            return f"{self.one(('abs', 'sqrt', 'ln', 'exp'))}({self.number(depth + 1)})"
        if depth < 2 and self.chance(0.05):
            return f"greatest({self.number(depth + 1)}, {self.number(depth + 1)})"
        if self.chance(self.faults * 0.2):
            return self.one(ANYTHING)
        return self.pick(NUMBERS)

    def text(self) -> str:
        if self.chance(self.faults * 0.2):
            return self.one(ANYTHING)
        return self.pick(TEXTS)

    def condition(self, depth: int = 0) -> str:
        if depth < 2 and self.chance(0.3):
            joiner = self.one(("AND", "OR"))
            return f"({self.condition(depth + 1)} {joiner} {self.condition(depth + 1)})"
        if depth < 2 and self.chance(0.1):
            return f"NOT {self.condition(depth + 1)}"
        compare = self.one(("=", "<>", "<", "<=", ">", ">="))
        choice = int(self.rng.integers(11))
        if choice in (0, 1):
            return self.one(("has_car(id)", "flaky(id)", "both(id)", "anything(id)", "flag"))
        if choice in (2, 3):
            return f"{self.number()} {compare} {self.number()}"
        if choice == 4:
            return f"{self.text()} {self.one(('=', '<>'))} {self.text()}"
        if choice == 5:
            literals = ("'north'", "'car'", "'bus'", "'truck'", "'it''s'")
            options = ", ".join(self.one(literals) for _ in range(int(self.rng.integers(1, 4))))
            return f"{self.text()} {self.one(('IN', 'NOT IN'))} ({options})"
        if choice == 6:
            options = ", ".join(self.one(("1", "2", "-3", "2.5")) for _ in range(2))
            return f"{self.number()} IN ({options})"
        if choice == 7:
            return f"{self.number()} BETWEEN {self.number()} AND {self.number()}"
        if choice == 8:
            return f"{self.pick(TIMES)} {compare} {self.pick(TIMES)}"
        if choice == 9:
            return f"camera {self.one(('LIKE', 'IS NULL AND camera LIKE'))} 'n%'"
        if self.chance(self.faults):
            return f"{self.one(ANYTHING)} {compare} {self.one(ANYTHING)}"
        return f"speed IS {self.one(('NULL', 'NOT NULL'))}"

    def aggregate(self) -> str:
        kind = self.pick(AGGREGATES)
        body = f"{kind}({self.number()})" if kind in ("AVG", "SUM") else kind
        if self.chance(0.2):
            body += f" AS {self.one(('a', 'b', 'total'))}"
        return body

    def query(self) -> str:
        group = ""
        items = [self.aggregate() for _ in range(int(self.rng.integers(1, 4)))]
        key = ""
        if self.chance(0.3):
            key = self.pick(GROUP_KEYS)
            group = f" GROUP BY {key}"
            if self.chance(0.7):
                items.insert(0, key.split(",")[0])
        table = self.one(TABLES[1]) if self.chance(self.faults * 0.3) else "frames"
        sql = f"SELECT {', '.join(items)} FROM {table}"
        condition = self.condition() if self.chance(0.85) else ""
        text = sql + condition + key
        if not any(f"{name}(" in text for name in ORACLES) and not self.chance(self.faults):
            oracle = self.one(("has_car(id)", "flaky(id)", "count_cars(id) > 2"))
            condition = f"{condition} AND {oracle}" if condition else oracle
        if condition:
            sql += f" WHERE {condition}"
        sql += group
        sql += "".join(f" {clause}" for clause in self.clauses(by_oracle="(" in key))
        return sql

    def clauses(self, *, by_oracle: bool) -> list[str]:
        found = []
        if self.chance(0.25):
            found.append(f"ERROR WITHIN {self.pick(TARGETS)}")
        if not found or self.chance(0.5):
            found.append(f"ORACLE LIMIT {self.pick(BUDGETS)}")
        if self.chance(0.25):
            found.append(self.pick(CONFIDENCES))
        if self.chance(0.1):
            found.append(f"COST LIMIT {self.pick(COSTS)}")
        if self.chance(0.9):
            found.append(f"USING {self.pick(GROUP_PROXIES if by_oracle else PROXIES)}")
        order = self.rng.permutation(len(found))
        return [found[i] for i in order]


def mutate(sql: str, rng: np.random.Generator) -> str:
    """Change 1-3 tokens: drop, duplicate, swap with the next, or replace one."""
    tokens = sql.split(" ")
    for _ in range(int(rng.integers(1, 4))):
        if len(tokens) < 2:
            break
        at = int(rng.integers(len(tokens) - 1))
        action = int(rng.integers(4))
        if action == 0:
            del tokens[at]
        elif action == 1:
            tokens.insert(at, tokens[at])
        elif action == 2:
            tokens[at], tokens[at + 1] = tokens[at + 1], tokens[at]
        else:
            tokens[at] = VOCABULARY[int(rng.integers(len(VOCABULARY)))]
    return " ".join(tokens)


def generated_queries(count: int, seed: int) -> Iterator[str]:
    """``count`` queries, deterministic given ``seed``.

    Half are written without deliberate faults; in the other half each choice
    takes a wrong option with chance 0.3; one query in eight is then mutated.
    """
    rng = np.random.default_rng(seed)
    for _ in range(count):
        faults = 0.0 if rng.random() < 0.5 else 0.3
        sql = QueryWriter(rng, faults).query()
        yield mutate(sql, rng) if rng.random() < 0.125 else sql


# --- running them --------------------------------------------------------------------------


@dataclass
class Outcomes:
    ran: int = 0
    refused: int = 0
    foreign: list[str] = field(default_factory=list)


def run_all(engine: Engine, queries: Iterator[str]) -> Outcomes:
    outcomes = Outcomes()
    for i, sql in enumerate(queries):
        try:
            engine.run(sql, seed=i)
        except AbaeError:
            outcomes.refused += 1
        except Exception:
            outcomes.foreign.append(f"query {i}: {sql}\n{traceback.format_exc()}")
        else:
            outcomes.ran += 1
    return outcomes


def _check(outcomes: Outcomes, total: int) -> None:
    assert outcomes.ran + outcomes.refused + len(outcomes.foreign) == total
    if outcomes.foreign:
        shown = "\n\n".join(outcomes.foreign[:5])
        pytest.fail(f"{len(outcomes.foreign)} of {total} queries raised a foreign error:\n{shown}")
    # the generator must exercise both paths, or this test proves little
    assert outcomes.ran >= total // 5, f"only {outcomes.ran} of {total} queries ran"
    assert outcomes.refused >= total // 5, f"only {outcomes.refused} of {total} were refused"


def test_generator_is_deterministic_and_varied() -> None:
    first = list(generated_queries(50, seed=3))
    assert first == list(generated_queries(50, seed=3))
    assert len(set(first)) >= 45
    joined = " ".join(first)
    for form in ("GROUP BY vehicle_type(id)", "ERROR WITHIN", "USING (car:", "BETWEEN", " IN ("):
        assert form in joined


def test_generated_queries_raise_only_project_errors(store_dir: Path) -> None:
    engine = Engine(store_dir / "typed.duckdb", _registry(), concurrency=2)
    _check(run_all(engine, generated_queries(100, seed=2024)), 100)


@pytest.mark.slow
def test_a_thousand_generated_queries_raise_only_project_errors(store_dir: Path) -> None:
    engine = Engine(store_dir / "typed.duckdb", _registry(), concurrency=2)
    _check(run_all(engine, generated_queries(1000, seed=7)), 1000)


CLI_ERRORS = [
    "SELECT COUNT(*) FROM frames WHERE speed = 'fast' AND has_car(id) ORACLE LIMIT 9 USING p",
    "SELECT COUNT(*) FROM frames WHERE camera = 1 AND has_car(id) ORACLE LIMIT 9 USING p",
    "SELECT SUM(camera) FROM frames WHERE has_car(id) ORACLE LIMIT 9 USING p",
    "SELECT COUNT(*) FROM frames WHERE lane IN ('x') AND has_car(id) ORACLE LIMIT 9 USING p",
    "SELECT COUNT(*) FROM frames WHERE has_car(id) ORACLE LIMIT 1e23 USING p",
    "SELECT COUNT(*) FROM frames WHERE has_car(id) > 2 ORACLE LIMIT 9 USING p",
    "SELECT COUNT(*) FROM frames WHERE vehicle_type(id) = 'plane' ORACLE LIMIT 9 USING p",
    "SELECT COUNT(*) FROM frames WHERE ts > 'someday' AND has_car(id) ORACLE LIMIT 9 USING p",
    "SELECT COUNT(*) FROM frames WHERE has_car(id) ERROR WITHIN 0 USING p",
    "SELECT COUNT(*) FROM frames WHERE has_car(id) ORACLE LIMIT 9 AT CONFIDENCE 0.9 "
    "WITH PROBABILITY 0.9 USING p",
    "SELECT COUNT(*) FROM frames WHERE has_car(id) ORACLE LIMIT 9 USING (car: p)",
    "SELECT COUNT(*) FROM frames WHERE has_car(id) ORACLE LIMIT 9; DROP TABLE frames",
]


@pytest.mark.parametrize("sql", CLI_ERRORS)
def test_the_cli_prints_one_error_line_and_exits_2(
    sql: str, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["query", sql, "--oracles", str(store_dir / "oracles.py")]
    status = main([*args, "--db", str(store_dir / "typed.duckdb"), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("abae query: error: ")
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_the_cli_answers_generated_queries_with_a_result_or_one_error_line(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses = []
    for sql in generated_queries(12, seed=99):
        args = ["query", sql, "--oracles", str(store_dir / "oracles.py")]
        status = main([*args, "--db", str(store_dir / "typed.duckdb"), "--no-progress"])
        captured = capsys.readouterr()
        statuses.append(status)
        assert status in (0, 2), (sql, captured.err)
        if status == 2:
            assert len(captured.err.strip().splitlines()) == 1, (sql, captured.err)
            assert captured.err.startswith("abae query: error: ")
        else:
            assert "records charged to ORACLE LIMIT:" in captured.out
    assert {0, 2} <= set(statuses)
