#!/usr/bin/env bash
# Runs one command against a private, throwaway PostgreSQL cluster, so the PostgreSQL backend's
# tests never touch (or depend on) a system cluster and can run side by side:
#
#   bash tests/pg/cluster.sh cargo test --features postgres
#   bash tests/pg/cluster.sh sh -c 'psql "$IAMLITE_TEST_PG" -c "select 1"'
#
# The command sees:
#   IAMLITE_TEST_PG      postgresql://postgres@127.0.0.1:PORT/iamlite_test  (trust auth)
#   IAMLITE_TEST_PG_BIN  the PostgreSQL server binaries directory
# and the script exits with the command's exit code. The cluster and its directory are removed on
# exit, including Ctrl-C and SIGTERM.
#
# A missing PostgreSQL is an error, not a skip: a CI run that silently skipped the backend's tests
# would look green while testing nothing. As root it installs Debian's `postgresql` package.
set -euo pipefail

log() { printf 'pg: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
now() { printf '%s' "${EPOCHREALTIME/[.,]/}"; }  # microseconds
elapsed() { local d=$(($(now) - $1)); printf '%d.%02d' $((d / 1000000)) $((d % 1000000 / 10000)); }

[ "$#" -gt 0 ] || die "usage: bash tests/pg/cluster.sh COMMAND [ARGS...]"
command -v python3 >/dev/null || die "python3 is required (it picks a free TCP port)"

t0=$(now)

# Debian's PATH wrappers (pg_ctlcluster & co.) manage system clusters under /etc/postgresql; the
# versioned directory has the plain upstream tools. The newest version wins.
find_pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true; }
PGBIN=$(find_pgbin)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/postgres" ]; then
    [ "$(id -u)" -eq 0 ] || die "no PostgreSQL server in /usr/lib/postgresql/*/bin; install it" \
        "(Debian: apt-get install postgresql) or run this script as root to have it installed"
    log "installing Debian's postgresql package"
    # The lock timeout lets two concurrent runs on a fresh machine queue instead of failing.
    apt-get -o DPkg::Lock::Timeout=120 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq postgresql \
        >/dev/null
    PGBIN=$(find_pgbin)
    [ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ] ||
        die "installed postgresql but found no server in /usr/lib/postgresql/*/bin"
fi
PGVERSION=$("$PGBIN/postgres" --version | sed -n 's/.*(PostgreSQL) \([^ ]*\).*/\1/p')

# Under /tmp rather than $TMPDIR: the server's unix socket path must stay under 107 bytes.
PGTMP=$(mktemp -d /tmp/iamlite-pg.XXXXXX)
PGDATA="$PGTMP/data"
PGLOG="$PGTMP/server.log"

# initdb and postgres refuse to run as root, so as root the cluster belongs to Debian's `postgres`
# user. The subshell's `cd` keeps it out of a caller directory it may not be allowed to read.
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 ||
        die "running as root, but no 'postgres' user exists to own the cluster"
    chown postgres:postgres "$PGTMP"
    as_owner() { (cd "$PGTMP" && runuser -u postgres -- "$@"); }
else
    as_owner() { (cd "$PGTMP" && "$@"); }
fi

cleaned=""
cleanup() {
    [ -z "$cleaned" ] || return 0
    cleaned=1
    if [ -f "$PGDATA/postmaster.pid" ]; then
        local t
        t=$(now)
        # Immediate, not fast: the data is deleted next, and a fast stop's shutdown checkpoint
        # (fsync is on) took 12-18 s here after a test run had created 22 databases, against
        # 0.1 s for this. It also cuts off clients the command left behind (e.g. iamlite nodes).
        if as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w -t 30 stop >/dev/null 2>&1; then
            log "cluster stopped in $(elapsed "$t") s"
        else
            local pid
            pid=$(head -1 "$PGDATA/postmaster.pid" 2>/dev/null || true)
            log "pg_ctl stop failed; killing postmaster ${pid:-(no pid)}"
            [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$PGTMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

t1=$(now)
if ! as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    >"$PGTMP/initdb.log" 2>&1; then
    cat "$PGTMP/initdb.log" >&2
    die "initdb failed"
fi

d_initdb=$(elapsed "$t1")
t1=$(now)

# The port is free when picked but not reserved, so a concurrent run (or anything else) can take
# it before the server binds it; a bind failure therefore gets a new port rather than failing.
# max_connections is above the default 100 because multi-node tests run several iamlite
# processes against this one cluster, each with its own pool.
for attempt in 1 2 3 4 5; do
    PGPORT=$(free_port)
    rm -f "$PGLOG"
    if as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories=$PGTMP" \
        -o "-c max_connections=300" \
        start >/dev/null 2>&1; then
        break
    fi
    if [ "$attempt" -lt 5 ] && grep -qs 'could not bind\|Address already in use' "$PGLOG"; then
        log "port $PGPORT was taken before the server bound it; retrying on another port"
        as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
        continue
    fi
    log "server failed to start; its log:"
    cat "$PGLOG" >&2 || true
    exit 1
done

d_start=$(elapsed "$t1")

if ! "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c 'CREATE DATABASE iamlite_test' >/dev/null; then
    cat "$PGLOG" >&2 || true
    die "could not create database iamlite_test"
fi

export IAMLITE_TEST_PG="postgresql://postgres@127.0.0.1:$PGPORT/iamlite_test"
export IAMLITE_TEST_PG_BIN="$PGBIN"
# The same database over the unix socket (no TCP stack, no conntrack): what a node on the
# database's own host would use, and what the benchmark measures with.
export IAMLITE_TEST_PG_SOCKET="postgresql://postgres@${PGTMP//\//%2F}:$PGPORT/iamlite_test"

log "cluster ready in $(elapsed "$t0") s (PostgreSQL $PGVERSION, port $PGPORT;" \
    "initdb $d_initdb s, start $d_start s)"

# Not `exec`: the EXIT trap has to run after the command to stop the server. Not a plain
# foreground command either: bash runs no trap until a foreground command ends, so a SIGTERM sent to
# this script alone (e.g. by `timeout`) would neither reach the command nor stop the server. As a
# background job it needs its stdin back (bash gives it /dev/null) and SIGINT/SIGQUIT restored
# (bash ignores them in background jobs), and the signals this script gets are passed on to it.
child=""
forward() { [ -z "$child" ] || kill -s "$1" "$child" 2>/dev/null || true; }
trap 'forward INT' INT
trap 'forward TERM' TERM
env --default-signal=INT,QUIT "$@" <&0 &
child=$!
while :; do
    rc=0
    wait "$child" || rc=$?
    # A trapped signal interrupts `wait` early; only a reaped child ends the loop.
    kill -0 "$child" 2>/dev/null || break
done
exit "$rc"
