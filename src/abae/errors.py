"""Exceptions the CLI turns into one clear line instead of a traceback."""

from __future__ import annotations


class AbaeError(Exception):
    """A problem the user can fix (bad input, missing file, bad query).

    The CLI prints ``str(error)`` and exits with status 2; library callers can
    catch it. Subclasses of :class:`ValueError` raised at input boundaries are
    treated the same way by the CLI.
    """
