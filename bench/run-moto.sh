#!/usr/bin/env bash
# moto_server, pinned, for side-by-side runs of examples/loadgen.rs. Not used by CI.
#
#   bash bench/run-moto.sh [PORT]     install (once) and start moto_server on 127.0.0.1:PORT (default 5000)
#                                     in the background; prints its pid and the loadgen command
#   bash bench/run-moto.sh --stop     stop the moto_server this script started
#
# The venv lives in target/moto-venv and is reinstalled only when the pin (or the interpreter)
# changes. The pid goes to target/moto.pid, the server's log to target/moto.log.
# Environment: PYTHON, the interpreter for the venv (default python3).
set -euo pipefail

MOTO_PIN="moto[server]==5.2.5"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/target/moto-venv"
STAMP="$VENV/.iamlite-moto-stamp"
PIDFILE="$ROOT/target/moto.pid"
LOG="$ROOT/target/moto.log"
PYTHON="${PYTHON:-python3}"

log() { printf 'run-moto: %s\n' "$*" >&2; }

if [ "${1:-}" = "--stop" ]; then
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        kill -TERM "$(cat "$PIDFILE")"
        log "stopped moto_server (pid $(cat "$PIDFILE"))"
    else
        log "no moto_server from this script is running"
    fi
    rm -f "$PIDFILE"
    exit 0
fi

PORT="${1:-5000}"
case "$PORT" in
    ''|*[!0-9]*) log "usage: $0 [PORT] | --stop"; exit 2 ;;
esac

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    log "moto_server already running (pid $(cat "$PIDFILE")); run '$0 --stop' first"
    exit 1
fi

# --- the venv with pinned moto[server] -------------------------------------------------------
if ! { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; }; then
    log "creating venv $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
wanted_stamp() {
    "$VENV/bin/python" -c 'import sys; print(sys.version)'
    echo "$MOTO_PIN"
}
if [ ! -f "$STAMP" ] || [ "$(wanted_stamp)" != "$(cat "$STAMP")" ]; then
    log "installing $MOTO_PIN into $VENV"
    rm -f "$STAMP"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet "$MOTO_PIN"
    wanted_stamp > "$STAMP"
fi

# --- start and wait until it answers ---------------------------------------------------------
log "starting moto_server $("$VENV/bin/python" -c 'import moto; print(moto.__version__)') on 127.0.0.1:$PORT (log: $LOG)"
nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 </dev/null &
PID=$!
echo "$PID" > "$PIDFILE"
for _ in $(seq 1 300); do
    if "$VENV/bin/python" - "$PORT" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1).read()
PY
    then
        log "moto_server is up (pid $PID)"
        cat <<EOT
pid $PID
cargo run --release --example loadgen -- --endpoint http://127.0.0.1:$PORT \\
    --access-key-id AKIAIOSFODNN7EXAMPLE --secret-access-key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY \\
    --server-pid $PID --label moto_server --workloads W1,W4 --users 1000
EOT
        exit 0
    fi
    if ! kill -0 "$PID" 2>/dev/null; then
        log "moto_server exited; see $LOG"
        tail -20 "$LOG" >&2
        rm -f "$PIDFILE"
        exit 1
    fi
    sleep 0.2
done
log "moto_server did not answer within 60 s; see $LOG"
exit 1
