"""The ABae SQL dialect: sqlglot's SQL plus the clauses of approximate queries.

Example:
    >>> tree = parse_query(
    ...     "SELECT AVG(count_cars(image)) FROM frames WHERE has_red_light(image) "
    ...     "ORACLE LIMIT 2000 USING proxy_red_light AT CONFIDENCE 0.95"
    ... )
    >>> int(tree.args["oracle_limit"].name), tree.args["proxy"].sql(), tree.args["probability"].name
    (2000, 'proxy_red_light', '0.95')
    >>> tree = parse_query(
    ...     "SELECT vehicle_type(image), COUNT(*) FROM frames GROUP BY vehicle_type(image) "
    ...     "ERROR WITHIN 0.05 RELATIVE USING (car: p_car, 'pick-up': p_pickup) COST LIMIT 20"
    ... )
    >>> tree.args["error_target"].sql(dialect=AbaeSQL)
    'ERROR WITHIN 0.05 RELATIVE'
    >>> tree.args["proxy"].sql(dialect=AbaeSQL)
    "(car: p_car, 'pick-up': p_pickup)"

The clauses follow the ordinary ``SELECT ... FROM ... WHERE ... GROUP BY``
clauses, in any order, each at most once, and are stored on the parsed
:class:`sqlglot.exp.Select` as args:

========================================  =================  ==========================
clause                                    arg                node
========================================  =================  ==========================
``ORACLE LIMIT n``                        ``oracle_limit``   number
``ERROR WITHIN e [RELATIVE]``             ``error_target``   :class:`ErrorBound`
``AT CONFIDENCE p`` / ``WITH PROBABILITY p``  ``probability``  number (one of the two)
``COST LIMIT x``                          ``cost_limit``     number
``USING expr``                            ``proxy``          expression over proxy columns
``USING (category: expr, ...)``           ``proxy``          :class:`GroupProxyMap`
========================================  =================  ==========================

Numbers may carry a leading ``-`` (then an :class:`sqlglot.exp.Neg`); the
compiler checks their ranges (:mod:`abae.query.limits`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import ErrorLevel, exp, generator, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from abae.query.errors import QueryParseError

MAX_QUERY_CHARS = 20_000
MAX_NESTING = 100
"""Deepest expression tree a query may have (e.g. 100 conditions joined by AND)."""

_CLAUSE_WORDS = ("ORACLE", "USING", "WITH", "ERROR", "AT", "COST")
_NEXT_CLAUSES = (
    "WHERE, GROUP BY, ORACLE LIMIT, ERROR WITHIN, AT CONFIDENCE, COST LIMIT, USING "
    "or WITH PROBABILITY"
)


class ErrorBound(exp.Expression):
    """``ERROR WITHIN <this> [RELATIVE]``: ``this`` is the number, ``relative`` a bool."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "relative": False}


class GroupProxy(exp.Expression):
    """``category: score`` in ``USING (...)``: ``this`` is the category (an identifier or a
    string), ``expression`` the score over proxy columns."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "expression": True}


class GroupProxyMap(exp.Expression):
    """``USING (car: p_car, bus: p_bus)``: one proxy per group of ``GROUP BY`` an oracle output."""

    arg_types: ClassVar[dict[str, bool]] = {"expressions": True}


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
    """sqlglot's parser with the approximate-query clauses and stricter statements."""

    # TRUE, FALSE and NULL keep their position (sqlglot drops it), so errors can point at them.
    PRIMARY_PARSERS: ClassVar[dict[TokenType, Any]] = {
        **parser.Parser.PRIMARY_PARSERS,
        TokenType.NULL: lambda self, token: self.expression(exp.Null(), token),
        TokenType.TRUE: lambda self, token: self.expression(exp.Boolean(this=True), token),
        TokenType.FALSE: lambda self, token: self.expression(exp.Boolean(this=False), token),
    }

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
        given: dict[str, str] = {}
        while not self._at_end():
            start = self._curr
            parsed = self._parse_abae_clause()
            if parsed is None:
                break
            key, clause, value = parsed
            if key in given:
                if given[key] != clause:
                    self.raise_error(
                        f"{clause} and {given[key]} say the same thing; give the confidence once",
                        token=start,
                    )
                self.raise_error(f"the {clause} clause appears twice", token=start)
            given[key] = clause
            if isinstance(value, exp.Expr):
                value.meta["abae_clause"] = clause
            this.set(key, value)
        return this

    def _parse_abae_clause(self) -> tuple[str, str, Any] | None:
        """One clause of the approximate query, as (arg key, clause name, node), or ``None``."""
        if self._match_text_seq("ORACLE", "LIMIT"):
            return (
                "oracle_limit",
                "ORACLE LIMIT",
                self._parse_clause_number(
                    "ORACLE LIMIT", "an integer budget of oracle calls, e.g. ORACLE LIMIT 1000"
                ),
            )
        if self._match_text_seq("ORACLE"):
            self.raise_error("expected LIMIT after ORACLE (ORACLE LIMIT <calls>)")
        elif self._match(TokenType.USING):
            return "proxy", "USING", self._parse_proxy()
        elif self._match_text_seq("WITH", "PROBABILITY"):
            return (
                "probability",
                "WITH PROBABILITY",
                self._parse_clause_number(
                    "WITH PROBABILITY", "a probability in (0, 1), e.g. WITH PROBABILITY 0.95"
                ),
            )
        elif self._match(TokenType.WITH):
            self.raise_error("expected PROBABILITY after WITH (WITH PROBABILITY <p>)")
        elif self._match_text_seq("AT", "CONFIDENCE"):
            return (
                "probability",
                "AT CONFIDENCE",
                self._parse_clause_number(
                    "AT CONFIDENCE", "a probability in (0, 1), e.g. AT CONFIDENCE 0.95"
                ),
            )
        elif self._curr.text.upper() == "AT":
            self._advance()
            self.raise_error("expected CONFIDENCE after AT (AT CONFIDENCE <p>)")
        elif self._match_text_seq("ERROR", "WITHIN"):
            number = self._parse_clause_number(
                "ERROR WITHIN",
                "the interval half-width to reach, e.g. ERROR WITHIN 5 or ERROR WITHIN 0.01 "
                "RELATIVE",
            )
            relative = self._match_text_seq("RELATIVE")
            return "error_target", "ERROR WITHIN", ErrorBound(this=number, relative=relative)
        elif self._match_text_seq("ERROR"):
            self.raise_error("expected WITHIN after ERROR (ERROR WITHIN <error> [RELATIVE])")
        elif self._match_text_seq("COST", "LIMIT"):
            return (
                "cost_limit",
                "COST LIMIT",
                self._parse_clause_number(
                    "COST LIMIT", "the most the oracle calls may cost, e.g. COST LIMIT 25"
                ),
            )
        elif self._match_text_seq("COST"):
            self.raise_error("expected LIMIT after COST (COST LIMIT <cost>)")
        return None

    def _parse_proxy(self) -> exp.Expr | None:
        """``USING expr`` or ``USING (category: expr, ...)``."""
        third = self._index + 2
        if (
            self._curr.token_type == TokenType.L_PAREN
            and self._next.token_type in (TokenType.VAR, TokenType.STRING)
            and third < len(self._tokens)
            and self._tokens[third].token_type == TokenType.COLON
        ):
            return self._parse_group_proxies()
        value = self._parse_disjunction()
        if value is None:
            self.raise_error(
                "expected a proxy column or an expression over proxy columns after USING"
            )
        return value

    def _parse_group_proxies(self) -> GroupProxyMap:
        self._match(TokenType.L_PAREN)
        entries: list[exp.Expr] = []
        while True:
            if self._match(TokenType.STRING):
                key: exp.Expr = self.expression(exp.Literal.string(self._prev.text), self._prev)
            elif self._curr.token_type == TokenType.VAR:
                key = self._parse_id_var(any_token=False) or exp.Identifier(this="")
            else:
                self.raise_error(
                    "expected a category name (car or 'pick-up') in USING (category: proxy, ...)"
                )
                break
            if not self._match(TokenType.COLON):
                self.raise_error("expected ':' after the category in USING (category: proxy, ...)")
            score = self._parse_disjunction()
            if score is None:
                self.raise_error("expected a proxy column or an expression after ':'")
            entries.append(GroupProxy(this=key, expression=score))
            if self._match(TokenType.COMMA):
                continue
            if not self._match(TokenType.R_PAREN):
                self.raise_error("expected ',' or ')' in USING (category: proxy, ...)")
            break
        return GroupProxyMap(expressions=entries)

    def _match_text_seq(self, *texts: str, advance: bool = True) -> bool:
        # A lone AT after a table is sqlglot's time travel (FROM t AT ...); here AT only
        # starts AT CONFIDENCE, so it is never matched alone.
        if texts == ("AT",):
            return False
        return bool(super()._match_text_seq(*texts, advance=advance))

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


class AbaeGenerator(generator.Generator):
    """sqlglot's SQL generator, also writing the dialect's own clause nodes."""

    TRANSFORMS: ClassVar[dict[type[exp.Expr], Any]] = {
        **generator.Generator.TRANSFORMS,
        ErrorBound: lambda self, e: (
            f"ERROR WITHIN {self.sql(e, 'this')}" + (" RELATIVE" if e.args.get("relative") else "")
        ),
        GroupProxy: lambda self, e: f"{self.sql(e, 'this')}: {self.sql(e, 'expression')}",
        GroupProxyMap: lambda self, e: "(" + ", ".join(self.sql(x) for x in e.expressions) + ")",
    }


class AbaeSQL(Dialect):
    """The ABae SQL dialect (a :class:`sqlglot.dialects.dialect.Dialect` subclass)."""

    class Tokenizer(AbaeTokenizer):
        pass

    class Parser(AbaeParser):
        pass

    class Generator(AbaeGenerator):
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
    except RecursionError:
        raise QueryParseError(_TOO_DEEP) from None
    except (SqlglotError, ValueError, TypeError, KeyError, IndexError) as error:
        raise QueryParseError(f"cannot parse the query: {error}") from None
    statements = [tree for tree in trees if tree is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        kind = type(statements[0]).__name__ if statements else "nothing"
        raise QueryParseError(f"expected one SELECT statement, got {kind}")
    if _depth(statements[0]) > MAX_NESTING:
        raise QueryParseError(_TOO_DEEP)
    return statements[0]


_TOO_DEEP = (
    f"the query nests expressions too deeply (more than {MAX_NESTING} levels, e.g. "
    f"{MAX_NESTING} conditions joined by AND); use IN (...) lists or split the query"
)


def _depth(tree: exp.Expr) -> int:
    """Depth of the expression tree (iterative: safe on any depth)."""
    deepest = 0
    stack: list[tuple[exp.Expr, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in node.iter_expressions():
            stack.append((child, depth + 1))
    return deepest


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
