#!/usr/bin/env bash
# The Python package's suite: build the wheel with a pinned maturin, install it with pinned
# boto3/pytest/pytest-xdist into a fresh venv (nothing else: no Rust needed to install), and run
# tests/python against it.
#
#   bash tests/python/run.sh [pytest args...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
BUILD_VENV="$ROOT/target/py-build-venv"
TEST_VENV="$ROOT/target/py-test-venv"
WHEELS="$ROOT/target/wheels"

log() { printf 'python: %s\n' "$*" >&2; }

venv() {
    rm -rf "$1"
    "$PYTHON" -m venv "$1"
    "$1/bin/python" -m pip install --disable-pip-version-check --no-input --quiet "${@:2}"
}

if ! "$BUILD_VENV/bin/maturin" --version 2>/dev/null | grep -qx "maturin $(sed -n 's/^maturin==//p' tests/python/build-requirements.txt)"; then
    log "installing maturin into $BUILD_VENV"
    venv "$BUILD_VENV" -r tests/python/build-requirements.txt
fi

log "building the wheel"
rm -rf "$WHEELS"
(cd python && "$BUILD_VENV/bin/maturin" build --release --out "$WHEELS")
WHEEL="$(ls "$WHEELS"/iamlite-*.whl)"
log "wheel: $WHEEL ($(du -k "$WHEEL" | cut -f1) KiB)"

log "installing the wheel into a fresh $TEST_VENV"
venv "$TEST_VENV" -r tests/python/requirements.txt "$WHEEL"

log "running tests/python"
cd tests/python
exec "$TEST_VENV/bin/python" -m pytest -p no:cacheprovider -v "$@"
