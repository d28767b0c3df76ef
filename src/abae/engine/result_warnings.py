"""Warnings of one kind merged into one line.

A GROUP BY over many groups, each with several strata, can repeat the same
warning dozens of times ("stratum 3 has no positive ..."). Warnings whose text
differs only in numbers and in their ``group '...':`` prefix are one kind: the
merged line keeps the first one's words and lists where it applies.
"""

from __future__ import annotations

import re

_GROUP_PREFIX = re.compile(r"^group (?P<group>.+?): ")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def merge_warnings(warnings: list[str]) -> list[str]:
    """One line per kind of warning, in first-seen order.

    Example:
        >>> merge_warnings([
        ...     "group 'a': stratum 3 has no positive among its 4 labelled records",
        ...     "group 'b': stratum 1 has no positive among its 6 labelled records",
        ...     "budget exceeds the records",
        ... ])  # doctest: +NORMALIZE_WHITESPACE
        ["stratum 3 has no positive among its 4 labelled records (2 times: group 'a'
          stratum 3; group 'b' stratum 1)", 'budget exceeds the records']
    """
    kinds: dict[str, list[tuple[str | None, str]]] = {}
    for warning in warnings:
        match = _GROUP_PREFIX.match(warning)
        group = match.group("group") if match else None
        text = warning[match.end() :] if match else warning
        kinds.setdefault(_NUMBER.sub("#", text), []).append((group, text))
    merged = []
    for occurrences in kinds.values():
        group, text = occurrences[0]
        if len(occurrences) == 1:
            merged.append(text if group is None else f"group {group}: {text}")
            continue
        places = "; ".join(_place(g, t) for g, t in occurrences)
        merged.append(f"{text} ({len(occurrences)} times: {places})")
    return merged


def _place(group: str | None, text: str) -> str:
    """``group 'a' stratum 3``: the group and the first numbered word of the warning."""
    numbered = re.search(r"([A-Za-z_]+) (\d+)", text)
    where = f"{numbered.group(1)} {numbered.group(2)}" if numbered else ""
    return " ".join(part for part in (f"group {group}" if group else "", where) if part) or text
