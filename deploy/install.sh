#!/bin/sh
# Build the code location's wheel from a source tree and install it with its production extra
# into a new virtualenv. The Dockerfile runs exactly this, and so does the test that checks the
# install (xledger_assets_tests/deploy/test_install_and_serve.py).
#
#   deploy/install.sh <source dir> <virtualenv dir>
#
# Runtime dependencies only: `pip install <wheel>[prod]`, no dev tools. pip's own settings
# (PIP_NO_CACHE_DIR, PIP_INDEX_URL, ...) come from the environment.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 <source dir> <virtualenv dir>" >&2
    exit 2
fi
src=$1
venv=$2
python=${PYTHON:-python3}

wheels=$(mktemp -d)
trap 'rm -rf "$wheels"' EXIT

"$python" -m pip wheel --no-deps --wheel-dir "$wheels" "$src"
set -- "$wheels"/xledger_assets-*.whl
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
    echo "expected exactly one xledger_assets wheel in $wheels" >&2
    exit 1
fi

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --disable-pip-version-check "$1[prod]"
"$venv/bin/python" -m pip check
# Fail the build, not the first run, when the code location or a storage plugin cannot load.
"$venv/bin/python" -c "import dagster_azure.blob.compute_log_manager, dagster_postgres, xledger_assets.definitions"
echo "installed $(basename "$1") into $venv"
