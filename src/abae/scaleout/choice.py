"""Picking an executor by name, or from ``$ABAE_EXECUTOR``."""

from __future__ import annotations

import os

from abae.scaleout.executor import Executor, LocalExecutor
from abae.scaleout.names import EXECUTOR_ENV_VAR, EXECUTOR_NAMES


def executor_named(name: str | None = None) -> Executor:
    """The executor called ``name`` (``"local"`` or ``"ray"``); ``None``: ``$ABAE_EXECUTOR``
    or ``"local"``.

    Raises:
        ValueError: an unknown name.
        abae.errors.AbaeError: ``"ray"`` without Ray installed (says how to install it).
    """
    chosen = name or os.environ.get(EXECUTOR_ENV_VAR) or "local"
    if chosen not in EXECUTOR_NAMES:
        raise ValueError(
            f"unknown executor {chosen!r} (from {'--executor' if name else EXECUTOR_ENV_VAR}); "
            f"choose one of {EXECUTOR_NAMES}"
        )
    if chosen == "ray":
        from abae.scaleout.ray_executor import RayExecutor  # imports Ray: only when asked for

        return RayExecutor()
    return LocalExecutor()
