"""Where a compat-suite server keeps its state, shared by test_compat.py and test_outscale.py.

By default a server gets `--db <its SQLite file>`. With `--postgres URL` on the suite's command
line (run.sh passes it when IAMLITE_COMPAT_STORE=postgres), every server instead gets
`--store <a fresh database of its own>` on that PostgreSQL: the database is created once per
SQLite path the test chose for the server (`CREATE DATABASE`, through `psql` from PATH, else the
venv's psycopg), so a restart of the same server - a new process on the same path - finds its
state again, and two servers never share one. The databases are not dropped: the cluster is meant
to be a throwaway one (tests/pg/cluster.sh).

Only the standard library.
"""

import itertools
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse

OPTION = "--postgres"


def _url_from_argv(argv):
    if OPTION in argv:
        i = argv.index(OPTION)
        if i + 1 >= len(argv) or not argv[i + 1].startswith(("postgres://", "postgresql://")):
            sys.exit(f"{OPTION} needs a postgres://USER@HOST:PORT/DB url")
        return argv[i + 1]
    return None


# Read at import, before the test classes are defined, so that `skipIf(POSTGRES, ...)` works.
POSTGRES_URL = _url_from_argv(sys.argv)
POSTGRES = POSTGRES_URL is not None

_counter = itertools.count(1)
_databases = {}  # SQLite path the test chose -> the PostgreSQL url standing in for it
_lock = threading.Lock()


def strip_option(argv):
    """`argv` without `--postgres URL` (what is left goes to unittest)."""
    argv = list(argv)
    if OPTION in argv:
        i = argv.index(OPTION)
        del argv[i : i + 2]
    return argv


def describe():
    if not POSTGRES:
        return "store: a SQLite file per server"
    return f"store: a fresh PostgreSQL database per server on {_with_db(POSTGRES_URL, '')}"


def storage_args(db_path):
    """The iamlite options that put a server's state in `db_path`, or in its stand-in database."""
    if not POSTGRES:
        return ["--db", db_path]
    return ["--store", shown(db_path)]


def shown(db_path):
    """What the banner names as the server's store: the file, or the database's url."""
    if not POSTGRES:
        return db_path
    with _lock:
        url = _databases.get(db_path)
        if url is None:
            name = f"iamlite_compat_{os.getpid()}_{next(_counter)}"
            _create_database(name)
            url = _databases[db_path] = _with_db(POSTGRES_URL, name)
        return url


def _with_db(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def _create_database(name):
    # The name is ours (prefix, pid, counter): no quoting issue.
    sql = f'CREATE DATABASE "{name}"'
    psql = shutil.which("psql")
    if psql:
        done = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", POSTGRES_URL, "-c", sql],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql could not create database {name}: {done.stderr.strip()}")
        return
    try:
        import psycopg
    except ImportError:
        raise RuntimeError("postgres mode needs `psql` on PATH or psycopg in the venv") from None
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql)
