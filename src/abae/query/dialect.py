"""The ABae SQL dialect: sqlglot's SQL plus ``ORACLE LIMIT n``, ``USING expr`` and ``WITH PROBABILITY p``.

Example:
    >>> tree = parse_query(
    ...     "SELECT AVG(count_cars(image)) FROM frames WHERE has_red_light(image) "
    ...     "ORACLE LIMIT 2000 USING proxy_red_light WITH PROBABILITY 0.95"
    ... )
    >>> int(tree.args["oracle_limit"].name)
    2000

The three clauses follow the ordinary ``SELECT ... FROM ... WHERE ... GROUP BY``
clauses, in any order, each at most once. They are stored on the parsed
:class:`sqlglot.exp.Select` as the args ``oracle_limit``, ``proxy`` and
``probability``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import ErrorLevel, exp, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from abae.query.errors import QueryParseError

MAX_QUERY_CHARS = 20_000

_CLAUSE_WORDS = ("ORACLE", "USING", "WITH")
_NEXT_CLAUSES = "WHERE, GROUP BY, ORACLE LIMIT, USING or WITH PROBABILITY"


class AbaeTokenizer(tokens.Tokenizer):
    """SQL tokens; ``--`` and ``/* */`` comments; ``"quoted"`` identifiers and ``'strings'``."""

    KEYWORDS: ClassVar[dict[str, TokenType]] = {
        key: value
        for key, value in tokens.Tokenizer.KEYWORDS.items()
        # statements a read-only query language never needs; they tokenize as names
        # and are then rejected by the parser as unexpected.
        if key not in {"PRAGMA", "INSTALL", "ATTACH", "DETACH", "COPY", "EXPORT"}
    }


class AbaeParser(parser.Parser):
    """sqlglot's parser with the three approximate-query clauses and stricter statements."""

    def _parse_statement(self) -> exp.Expr | None:
        if self._at_end():
            return None
        if self._curr.token_type != TokenType.SELECT:
            self.raise_error(
                f"expected SELECT at the start of a query, got {self._curr.text!r}; "
                "only read-only SELECT queries are allowed"
            )
        return super()._parse_statement()

    def _parse_table_alias(self, alias_tokens: Any = None) -> exp.TableAlias | None:
        if self._at_end() or self._curr.text.upper() in _CLAUSE_WORDS:
            return None
        if self._curr.text.upper() == "GROUP":
            self.raise_error("expected BY after GROUP (GROUP BY <columns>)", token=self._next)
        return super()._parse_table_alias(alias_tokens)

    def _parse_query_modifiers(self, this: Any) -> Any:
        this = super()._parse_query_modifiers(this)
        if not isinstance(this, exp.Select):
            return this
        while not self._at_end():
            start = self._curr
            if self._match_text_seq("ORACLE", "LIMIT"):
                key, value = (
                    "oracle_limit",
                    self._parse_clause_number(
                        "ORACLE LIMIT", "an integer budget of oracle calls, e.g. ORACLE LIMIT 1000"
                    ),
                )
            elif self._match_text_seq("ORACLE"):
                self.raise_error("expected LIMIT after ORACLE (ORACLE LIMIT <calls>)")
                return this
            elif self._match(TokenType.USING):
                key, value = "proxy", self._parse_disjunction()
                if value is None:
                    self.raise_error(
                        "expected a proxy column or an expression over proxy columns after USING"
                    )
            elif self._match_text_seq("WITH", "PROBABILITY"):
                key, value = (
                    "probability",
                    self._parse_clause_number(
                        "WITH PROBABILITY", "a probability in (0, 1), e.g. WITH PROBABILITY 0.95"
                    ),
                )
            elif self._match(TokenType.WITH):
                self.raise_error("expected PROBABILITY after WITH (WITH PROBABILITY <p>)")
                return this
            else:
                break
            if this.args.get(key) is not None:
                self.raise_error(f"the {start.text.upper()} clause appears twice", token=start)
            this.set(key, value)
        return this

    def _at_end(self) -> bool:
        return self._curr is None or self._curr.token_type == TokenType.SENTINEL

    def _parse_clause_number(self, clause: str, expected: str) -> exp.Expr | None:
        negative = self._match(TokenType.DASH)
        if self._at_end() or self._curr.token_type != TokenType.NUMBER:
            got = "the end of the query" if self._at_end() else repr(self._curr.text)
            self.raise_error(f"{clause} needs {expected}; got {got}")
            return None
        number = self._parse_number()
        if negative and number is not None:
            return exp.Neg(this=number)
        return number


class AbaeSQL(Dialect):
    """The ABae SQL dialect (a :class:`sqlglot.dialects.dialect.Dialect` subclass)."""

    class Tokenizer(AbaeTokenizer):
        pass

    class Parser(AbaeParser):
        pass


_FRIENDLY = (
    ("Expecting )", "expected ')'"),
    ("Expecting (", "expected '('"),
    (
        "Required keyword: 'this' missing for <class 'sqlglot.expressions.query.Where'>",
        "expected a condition after WHERE",
    ),
    ("Expected table name", "expected a table name after FROM"),
    (
        "Invalid expression / Unexpected token",
        f"unexpected token; expected an expression or one of {_NEXT_CLAUSES}",
    ),
)


def _friendly(description: str, highlight: str) -> str:
    for raw, nice in _FRIENDLY:
        if description.startswith(raw):
            description = nice
            break
    else:
        if "Required keyword" in description:
            description = "incomplete expression: " + description.split(" missing for ")[0].replace(
                "Required keyword: ", "missing "
            )
    near = f" (at {highlight!r})" if highlight else " (at the end of the query)"
    return description + near


def parse_query(sql: str) -> exp.Select:
    """Parse one query of the ABae dialect.

    Args:
        sql: the query text (one ``SELECT`` statement, optional trailing ``;``).

    Returns:
        The parsed ``SELECT`` with its extra clauses in ``args``.

    Raises:
        QueryParseError: with line, column and what was expected; the only error
            this function raises.
    """
    if not isinstance(sql, str):
        raise QueryParseError(f"a query must be text, got {type(sql).__name__}")
    if len(sql) > MAX_QUERY_CHARS:
        raise QueryParseError(
            f"the query is {len(sql)} characters long; the limit is {MAX_QUERY_CHARS}"
        )
    if not sql.strip():
        raise QueryParseError("the query is empty; expected SELECT ... FROM ... ORACLE LIMIT n")
    dialect = AbaeSQL()
    try:
        token_list = dialect.tokenize(sql)
    except TokenError:
        line, column, quote = _unterminated_quote(sql)
        raise QueryParseError(
            f"expected a closing {quote} for the text opened here", line, column
        ) from None
    _reject_extra_statements(token_list)
    try:
        trees = dialect.parser(error_level=ErrorLevel.IMMEDIATE).parse(token_list, sql)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        highlight = str(first.get("highlight", "") or "")
        end_column = int(first.get("col", 0) or 0)
        start_column = end_column - len(highlight) + 1 if "\n" not in highlight else end_column
        raise QueryParseError(
            _friendly(str(first.get("description", error)), highlight),
            int(first.get("line", 0) or 0),
            max(start_column, 1) if end_column else 0,
        ) from None
    except (SqlglotError, RecursionError, ValueError, TypeError, KeyError, IndexError) as error:
        raise QueryParseError(f"cannot parse the query: {error}") from None
    statements = [tree for tree in trees if tree is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        kind = type(statements[0]).__name__ if statements else "nothing"
        raise QueryParseError(f"expected one SELECT statement, got {kind}")
    return statements[0]


def _reject_extra_statements(token_list: list[Token]) -> None:
    for position, token in enumerate(token_list):
        if token.token_type == TokenType.SEMICOLON and position + 1 < len(token_list):
            following = token_list[position + 1]
            raise QueryParseError(
                "only one statement is allowed: found another statement after ';' "
                f"(at {following.text!r}); queries are read-only",
                following.line,
                following.col - len(following.text) + 1,
            )


def _unterminated_quote(sql: str) -> tuple[int, int, str]:
    """Line, column and quote character of the first quote that is never closed."""
    open_quote = ""
    opened_at = 0
    position = 0
    while position < len(sql):
        char = sql[position]
        if open_quote:
            if char == open_quote:
                if sql[position + 1 : position + 2] == open_quote:
                    position += 1
                else:
                    open_quote = ""
        elif char in ("'", '"'):
            open_quote, opened_at = char, position
        elif sql.startswith("--", position):
            newline = sql.find("\n", position)
            position = len(sql) if newline < 0 else newline
        position += 1
    if not open_quote:
        return 0, 0, "quote"
    line = sql.count("\n", 0, opened_at) + 1
    column = opened_at - (sql.rfind("\n", 0, opened_at) + 1) + 1
    return line, column, open_quote
