#!/usr/bin/env bash
# The main job: set up (idempotent), then run `abae demo` with any extra arguments.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/abae" demo "$@"
