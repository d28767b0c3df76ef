"""Load a user's oracle file: run it as a module and collect what it registers."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path

from abae.oracles.errors import OracleFileError
from abae.oracles.registry import OracleRegistry, collecting_into


def load_oracle_file(path: str | Path) -> OracleRegistry:
    """Import ``path`` and return the oracles it registered with ``@abae.oracle``.

    Raises:
        OracleFileError: the file is missing, raises while importing, or registers nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise OracleFileError(f"oracle file {path} does not exist")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"abae_user_oracles_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise OracleFileError(f"cannot load {path} as Python code")
    module = importlib.util.module_from_spec(spec)
    registry = OracleRegistry()
    sys.modules[module_name] = module
    with collecting_into(registry):
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            sys.modules.pop(module_name, None)
            frame = traceback.extract_tb(error.__traceback__)[-1]
            raise OracleFileError(
                f"{path} raised {type(error).__name__}: {error} (line {frame.lineno})"
            ) from error
    if len(registry) == 0:
        raise OracleFileError(
            f'{path} registers no oracle; decorate a function with @abae.oracle("name")'
        )
    return registry
