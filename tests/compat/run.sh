#!/usr/bin/env bash
# Compat suite: the real `aws` CLI (v1) and boto3, then osc-cli and osc-sdk-python (OUTSCALE
# flavour), against the release iamlite binary.
#
#   bash tests/compat/run.sh [unittest args...]     e.g.  -k Restart   or   -v
#
# Environment:
#   IAMLITE_BIN  use this binary instead of running `cargo build --release`
#   PYTHON       interpreter used to create the venv (default python3)
#   IAMLITE_COMPAT_STORE=postgres
#                every server the suites start keeps its state in a fresh database of its own on
#                the PostgreSQL at IAMLITE_TEST_PG (required then: a missing PostgreSQL fails, it
#                never skips), instead of a SQLite file (created with psql from PATH, else the
#                venv's psycopg; see tests/compat/store.py). A test about the SQLite file itself
#                would be skipped there with `unittest.skipIf(store.POSTGRES, "...")`.
#                E.g.  bash tests/pg/cluster.sh env IAMLITE_COMPAT_STORE=postgres bash tests/compat/run.sh
#
# The venv lives in target/compat-venv and is reinstalled only when
# tests/compat/requirements.txt (or the interpreter version) changes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

VENV="$ROOT/target/compat-venv"
REQ="$ROOT/tests/compat/requirements.txt"
STAMP="$VENV/.iamlite-compat-stamp"
PYTHON="${PYTHON:-python3}"

log() { printf 'compat: %s\n' "$*" >&2; }

# --- (0) where the servers keep their state ----------------------------------------------------
STORE_ARGS=()
case "${IAMLITE_COMPAT_STORE:-sqlite}" in
    sqlite) ;;
    postgres)
        if [ -z "${IAMLITE_TEST_PG:-}" ]; then
            log "IAMLITE_COMPAT_STORE=postgres needs IAMLITE_TEST_PG (postgres://USER@HOST:PORT/DB);"
            log "run through tests/pg/cluster.sh, which starts a throwaway PostgreSQL and sets it"
            exit 1
        fi
        STORE_ARGS=(--postgres "$IAMLITE_TEST_PG")
        ;;
    *)
        log "IAMLITE_COMPAT_STORE must be sqlite or postgres, not '$IAMLITE_COMPAT_STORE'"
        exit 1
        ;;
esac

# --- (a) the venv with pinned awscli + boto3 -------------------------------------------------
venv_python_ok() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1
}

if ! venv_python_ok; then
    log "creating venv $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! "$PYTHON" -m venv "$VENV"; then
        # Debian-style Pythons without ensurepip: make a bare venv and let the system pip fill it.
        log "python -m venv failed; retrying without pip"
        rm -rf "$VENV"
        "$PYTHON" -m venv --without-pip "$VENV"
    fi
fi

# What the venv must match: the requirements file plus the interpreter it was built with.
wanted_stamp() {
    "$VENV/bin/python" -c 'import sys; print(sys.version)'
    cat "$REQ"
}

want_stamp="$(wanted_stamp)"
have_stamp="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want_stamp" != "$have_stamp" ]; then
    log "installing pinned requirements into $VENV"
    rm -f "$STAMP"
    pip_flags=(--disable-pip-version-check --no-input --quiet -r "$REQ")
    if "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip install "${pip_flags[@]}"
    else
        "$PYTHON" -m pip --python "$VENV/bin/python" install "${pip_flags[@]}"
    fi
    # Every pin must be exactly what is installed (an older venv may hold other versions).
    "$VENV/bin/python" - "$REQ" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
bad = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        bad.append(f"{name}: want {want}, have {have}")
if bad:
    sys.exit("compat: venv does not match requirements.txt:\n  " + "\n  ".join(bad))
PY
    printf '%s\n' "$want_stamp" >"$STAMP"
fi

# --- (b) the release binary ------------------------------------------------------------------
if [ -n "${IAMLITE_BIN:-}" ]; then
    BIN="$IAMLITE_BIN"
else
    log "cargo build --release"
    cargo build --release --quiet
    TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
        "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
    BIN="$TARGET_DIR/release/iamlite"
fi
if [ ! -x "$BIN" ]; then
    log "no executable iamlite at $BIN"
    exit 1
fi

# --- (c) the suites ----------------------------------------------------------------------------
log "running tests against $BIN (store: ${IAMLITE_COMPAT_STORE:-sqlite})"
"$VENV/bin/python" "$ROOT/tests/compat/test_compat.py" --bin "$BIN" "${STORE_ARGS[@]}" "$@"
"$VENV/bin/python" "$ROOT/tests/compat/test_outscale.py" --bin "$BIN" "${STORE_ARGS[@]}" "$@"
