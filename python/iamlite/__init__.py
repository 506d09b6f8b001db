"""Run the iamlite binary from Python: a local AWS IAM and STS stand-in that verifies SigV4.

The Python side only starts, watches and stops the binary shipped in the same wheel; everything
else is the server's own behaviour.

    with iamlite.Server() as srv:
        boto3.client("iam", endpoint_url=srv.endpoint, ...)
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple, Union

__all__ = ["Server", "ServerError", "find_binary", "__version__"]

try:
    from importlib.metadata import version as _version

    __version__ = _version("iamlite")
except Exception:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

#: The environment variable that points the package at another binary (a local build, say).
BIN_ENV = "IAMLITE_BIN"

_BANNER = re.compile(r"^iamlite (\S+) listening on (http://\S+)$")
_KEY = re.compile(r"AWS_ACCESS_KEY_ID=(\S+)")
_SECRET = re.compile(r"AWS_SECRET_ACCESS_KEY=(\S+)")
_ACCOUNT = re.compile(r"^\s*account:\s+(\d{12})$")
_CONSOLE = re.compile(r"^\s*console:\s+(http://\S+)")


class ServerError(RuntimeError):
    """The server could not start, or an admin call failed; the message says why."""


def find_binary(explicit: Optional[str] = None) -> str:
    """The iamlite executable: `explicit`, else $IAMLITE_BIN, else the one this wheel installed."""
    candidates = [explicit, os.environ.get(BIN_ENV)]
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(os.path.join(scripts, "iamlite"))
    candidates.append(shutil.which("iamlite"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    raise ServerError(
        "no iamlite binary found: install the iamlite wheel, or set IAMLITE_BIN to a built one"
    )


# Servers still running at interpreter exit are stopped then, whatever else happened.
_running: "set[Server]" = set()
_running_lock = threading.Lock()


def _stop_all() -> None:
    with _running_lock:
        servers = list(_running)
    for s in servers:
        s.stop()


atexit.register(_stop_all)


class Server:
    """One iamlite process on a free loopback port.

    State lives in a temporary SQLite file (removed on stop) unless `db` names one, or in memory
    with `in_memory=True`. Every server option has a keyword argument; `extra_args` passes any other
    command-line argument through.
    """

    def __init__(
        self,
        *,
        bin: Optional[str] = None,
        db: Optional[str] = None,
        in_memory: bool = False,
        seed_file: Optional[str] = None,
        account_id: Optional[str] = None,
        root_key: Optional[Tuple[str, str]] = None,
        flavor: Optional[str] = None,
        id_seed: Optional[int] = None,
        propagation_delay: Optional[str] = None,
        root_login: Optional[Tuple[str, str]] = None,
        admin_token: Optional[str] = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
    ) -> None:
        self.bin = find_binary(bin)
        self._tmp: Optional[str] = None
        self._db = db
        self._in_memory = in_memory
        self._admin_token = admin_token
        self._startup_timeout = startup_timeout
        args: List[str] = ["--listen", "127.0.0.1:0"]
        options: Dict[str, Any] = {
            "--seed-file": seed_file,
            "--account-id": account_id,
            "--flavor": flavor,
            "--id-seed": id_seed,
            "--propagation-delay": propagation_delay,
            "--admin-token": admin_token,
        }
        for flag, value in options.items():
            if value is not None:
                args += [flag, str(value)]
        if root_key is not None:
            args += ["--root-access-key-id", root_key[0], "--root-secret-access-key", root_key[1]]
        if root_login is not None:
            args += ["--root-login", root_login[0], "--root-password", root_login[1]]
        self._args = args + list(extra_args)
        self._proc: Optional[subprocess.Popen] = None
        self._log: Optional[IO[bytes]] = None
        self.endpoint = ""
        # The web console's URL ("" when started with --no-console).
        self.console_url = ""
        self.version = ""
        self.account_id = account_id or ""
        self.root_credentials: Tuple[str, str] = ("", "")

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "Server":
        if self._proc is not None:
            return self
        self._tmp = tempfile.mkdtemp(prefix="iamlite-")
        storage = ["--in-memory"] if self._in_memory else ["--db", self._db or os.path.join(self._tmp, "iamlite.db")]
        self._log = open(os.path.join(self._tmp, "iamlite.log"), "w+b")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IAMLITE_")}
        env.setdefault("NO_COLOR", "1")
        self._proc = subprocess.Popen(
            [self.bin, *self._args, *storage],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )
        with _running_lock:
            _running.add(self)
        try:
            self._read_banner()
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_banner(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        lines: List[str] = []
        deadline = time.monotonic() + self._startup_timeout
        result: Dict[str, str] = {}

        def read() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for raw in self._proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                lines.append(line)
                if line.startswith("try:"):
                    break
            result["done"] = "yes"

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(max(0.0, deadline - time.monotonic()))
        if "done" not in result or not lines:
            raise ServerError(f"iamlite printed no banner within {self._startup_timeout} s; log:\n{self.log()}")
        m = _BANNER.match(lines[0])
        if not m:
            raise ServerError(f"unexpected banner {lines[0]!r}; log:\n{self.log()}")
        self.version, self.endpoint = m.group(1), m.group(2)
        text = "\n".join(lines)
        key, secret = _KEY.search(text), _SECRET.search(text)
        if key and secret:
            self.root_credentials = (key.group(1), secret.group(1))
        for line in lines:
            account = _ACCOUNT.match(line)
            if account:
                self.account_id = account.group(1)
            console = _CONSOLE.match(line)
            if console:
                self.console_url = console.group(1)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while True:
            try:
                self.health()
                return
            except (ServerError, OSError):
                if time.monotonic() > deadline or (self._proc and self._proc.poll() is not None):
                    raise ServerError(f"iamlite did not become healthy; log:\n{self.log()}")
                time.sleep(0.02)

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        """Stops the server (SIGTERM, then SIGKILL after `timeout`); answers its exit code."""
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
            else:
                code = proc.returncode
            if proc.stdout is not None:
                proc.stdout.close()
        with _running_lock:
            _running.discard(self)
        if self._log is not None:
            self._saved_log = self.log()
            self._log.close()
            self._log = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        return code

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        """Everything the server logged so far (its stderr)."""
        if self._log is None:
            return getattr(self, "_saved_log", "")
        self._log.flush()
        position = self._log.tell()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace")
        self._log.seek(position)
        return text

    # --- the admin endpoints ------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        if not self.endpoint:
            raise ServerError("the server is not started")
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(f"{self.endpoint}/_iamlite/{path}", data=data, method=method)
        if self._admin_token:
            req.add_header("x-iamlite-admin-token", self._admin_token)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise ServerError(f"{method} /_iamlite/{path}: {e.code} {e.read().decode(errors='replace')}")

    def health(self) -> Dict[str, Any]:
        return self._admin("GET", "health")

    def reset(self) -> None:
        """Back to the start-up state (accounts, root keys, seed), and the clock to real time."""
        self._admin("POST", "reset")

    def state(self) -> Dict[str, Any]:
        """The whole state as iamlite exports it (secrets included)."""
        return self._admin("GET", "state")

    def advance_clock(self, by: Union[str, float, int]) -> Dict[str, Any]:
        """Moves the clock lifetimes are judged by: seconds, or a duration such as "13h"."""
        advance = f"{by}s" if isinstance(by, (int, float)) else by
        return self._admin("POST", "clock", {"advance": advance})

    def reset_clock(self) -> Dict[str, Any]:
        return self._admin("POST", "clock", {"reset": True})

    # --- clients --------------------------------------------------------------------------------

    def client(self, service: str, key: Any = None, region: str = "us-east-1", **kwargs: Any) -> Any:
        """A boto3 client of this server, signed with `key` (an access key dict from
        CreateAccessKey/GetSessionToken, or an (id, secret[, token]) tuple; root by default)."""
        import boto3

        key_id, secret, token = _credentials(key if key is not None else self.root_credentials)
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            aws_session_token=token,
            **kwargs,
        )


def _credentials(key: Any) -> Tuple[str, str, Optional[str]]:
    if isinstance(key, dict):
        return key["AccessKeyId"], key["SecretAccessKey"], key.get("SessionToken")
    if isinstance(key, (tuple, list)) and len(key) in (2, 3):
        return key[0], key[1], key[2] if len(key) == 3 else None
    raise TypeError("a key is a CreateAccessKey/GetSessionToken dict or an (id, secret[, token]) tuple")
