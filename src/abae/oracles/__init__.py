"""The oracle runtime: registered oracles, oracle files, HTTP, OpenAI-compatible and torch
oracles, and budgeted, deadlined, metered calls.

``openai_oracle`` and ``torch_oracle`` import their libraries only when called.
"""

from __future__ import annotations

from typing import Any

from abae.oracles.adaptive_limit import AdaptiveLimit
from abae.oracles.answers import MeteredAnswer, label_from_output, parse_text_answer
from abae.oracles.errors import (
    OracleCallError,
    OracleFailingError,
    OracleFileError,
    TransientOracleError,
    UnknownOracleError,
    UnusableAnswerError,
)
from abae.oracles.http_adapter import HttpOracle, OracleHttpError, http_oracle
from abae.oracles.loader import load_oracle_file
from abae.oracles.registry import (
    DEFAULT_TIMEOUT_S,
    ORACLE_RETURNS,
    OracleRegistry,
    OracleReturns,
    OracleSpec,
    collecting_into,
    default_registry,
    oracle,
    register_oracle,
)
from abae.oracles.retry import RetryPolicy
from abae.oracles.runtime import FailureBrake, OracleRuntime, RuntimeStats

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "ORACLE_RETURNS",
    "AdaptiveLimit",
    "FailureBrake",
    "HttpOracle",
    "MeteredAnswer",
    "OracleCallError",
    "OracleFailingError",
    "OracleFileError",
    "OracleHttpError",
    "OracleRegistry",
    "OracleReturns",
    "OracleRuntime",
    "OracleSpec",
    "RetryPolicy",
    "RuntimeStats",
    "TransientOracleError",
    "UnknownOracleError",
    "UnusableAnswerError",
    "collecting_into",
    "default_registry",
    "http_oracle",
    "label_from_output",
    "load_oracle_file",
    "openai_oracle",
    "oracle",
    "parse_text_answer",
    "register_oracle",
    "torch_oracle",
]


def openai_oracle(*args: Any, **kwargs: Any) -> OracleSpec:
    """Register a chat-model oracle; see :func:`abae.oracles.openai_oracle.openai_oracle`."""
    from abae.oracles.openai_oracle import openai_oracle as make

    return make(*args, **kwargs)


def torch_oracle(*args: Any, **kwargs: Any) -> OracleSpec:
    """Register a PyTorch model oracle; see :func:`abae.oracles.torch_oracle.torch_oracle`."""
    from abae.oracles.torch_oracle import torch_oracle as make

    return make(*args, **kwargs)
