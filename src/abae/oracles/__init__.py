"""The oracle runtime: registered oracles, oracle files, an HTTP adapter, and budgeted calls."""

from __future__ import annotations

from abae.oracles.errors import OracleFileError, TransientOracleError, UnknownOracleError
from abae.oracles.http_adapter import HttpOracle, OracleHttpError, http_oracle
from abae.oracles.loader import load_oracle_file
from abae.oracles.registry import (
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
from abae.oracles.runtime import OracleRuntime, RuntimeStats, label_from_output

__all__ = [
    "ORACLE_RETURNS",
    "HttpOracle",
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
    "collecting_into",
    "default_registry",
    "http_oracle",
    "label_from_output",
    "load_oracle_file",
    "oracle",
    "register_oracle",
]
