#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with the project, its dev tools
# and the optional features the tests exercise (extras: $ABAE_EXTRAS, default
# "dev,ray,export,openai,video,detector,dataframe") installed
# under constraints.txt, and Debian's Fashion-MNIST when missing. Running it again
# only re-checks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

python_bin="${PYTHON:-python3.11}"
if ! command -v "$python_bin" >/dev/null 2>&1; then
    echo "bootstrap: $python_bin not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $python_bin"
    "$python_bin" -m venv .venv
fi

# Reinstall only when the dependency declarations or the chosen extras changed.
extras="${ABAE_EXTRAS:-dev,ray,export,openai,video,detector,dataframe}"
stamp=.venv/.installed-hash
want="$( (cat pyproject.toml constraints.txt; echo "$extras") | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing the project with extras [$extras] (pip, -c constraints.txt)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[$extras]"
    echo "$want" > "$stamp"
fi

fashion_dir=/usr/share/datasets/fashion-mnist
if [ ! -f "$fashion_dir/t10k-images-idx3-ubyte.gz" ] && [ -z "${ABAE_SKIP_APT:-}" ]; then
    echo "bootstrap: installing Debian's dataset-fashion-mnist"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
