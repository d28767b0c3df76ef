#!/usr/bin/env bash
# The test job: set up (idempotent), then lint, type-check, check the import-layer
# contracts (pyproject.toml [tool.importlinter]) and run the default (fast) test
# suite. Pass `--slow` to run only the slow, opt-in tests instead.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
# One torch thread by default: the tests' tensors are small, and on a busy machine two
# OpenMP threads wait on each other (the suite ran 7x slower with 2 under load).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
if [ "${1:-}" = "--slow" ]; then
    shift
    exec .venv/bin/python -m pytest -m slow "$@"
fi
.venv/bin/ruff check src tests benchmarks experiments
.venv/bin/ruff format --check src tests benchmarks experiments
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest "$@"
