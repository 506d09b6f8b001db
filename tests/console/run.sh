#!/usr/bin/env bash
# The web console in a real browser: Debian's chromium driven by the pinned Python playwright,
# against the release binary, cross-checked with boto3. Screenshots land in
# target/console-screenshots/.
#
#   bash tests/console/run.sh [pytest args...]
#
# Environment:
#   IAMLITE_BIN  use this binary instead of running `cargo build --release`
#   CHROMIUM     the browser executable (default: chromium on PATH, installed with apt if missing)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/target/console-venv"
REQ="$ROOT/tests/console/requirements.txt"
STAMP="$VENV/.iamlite-console-stamp"

log() { printf 'console: %s\n' "$*" >&2; }

if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null; then
    log "installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
[ -x "$CHROMIUM" ] || { log "no chromium executable at '$CHROMIUM'"; exit 1; }
export CHROMIUM
log "browser: $("$CHROMIUM" --version 2>/dev/null | head -1)"

want="$("$PYTHON" -c 'import sys; print(sys.version)'; cat "$REQ")"
if [ "$want" != "$(cat "$STAMP" 2>/dev/null || true)" ]; then
    log "installing pinned requirements into $VENV"
    rm -rf "$VENV"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        log "installing Debian's python3-venv"
        rm -rf "$VENV"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$REQ"
    printf '%s\n' "$want" >"$STAMP"
fi

if [ -z "${IAMLITE_BIN:-}" ]; then
    log "cargo build --release"
    cargo build --release --quiet
    IAMLITE_BIN="$ROOT/target/release/iamlite"
fi
IAMLITE_BIN="$(realpath "$IAMLITE_BIN")"
export IAMLITE_BIN
[ -x "$IAMLITE_BIN" ] || { log "no executable iamlite at $IAMLITE_BIN"; exit 1; }

cd tests/console
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -v --durations=5 "$@"
