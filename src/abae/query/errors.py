"""Errors of the query language; each says where (line, column) and what was expected."""

from __future__ import annotations

from abae.errors import AbaeError


class QueryError(AbaeError):
    """A query the engine cannot run, located at ``line``/``column`` (1-based; 0 if unknown).

    Attributes:
        line, column: where the problem is in the query text.
        description: the message without the location prefix.
    """

    def __init__(self, description: str, line: int = 0, column: int = 0) -> None:
        self.description = description
        self.line = line
        self.column = column
        where = f"line {line}, column {column}: " if line > 0 else ""
        super().__init__(f"{where}{description}")


class QueryParseError(QueryError):
    """The query text is not valid in the ABae SQL dialect (the only error :func:`parse_query` raises)."""


class QueryCompileError(QueryError):
    """The query parses but refers to unknown names or uses unsupported constructs."""
