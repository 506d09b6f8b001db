#!/usr/bin/env python3
"""Compat suite: the real `aws` CLI (v1) and boto3 against the iamlite release binary.

Run it through tests/compat/run.sh, which builds the binary and provides a venv with the pinned
awscli and boto3. Directly:

    target/compat-venv/bin/python tests/compat/test_compat.py --bin target/release/iamlite [-k PATTERN]

Every test class starts its own iamlite on a free port (`--listen 127.0.0.1:0`, endpoint read from
the first banner line) with a SQLite file in a private temporary directory (with `--postgres URL`:
a fresh PostgreSQL database of its own instead, see store.py), and stops it with
SIGTERM expecting exit code 0. The restart tests start and stop their own processes. No process
outlives the run: every one started is killed at cleanup if it is still alive.

Only the standard library plus boto3/botocore (and the `aws` CLI next to this interpreter).
"""

import atexit
import datetime
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import store  # this directory: --db FILE or, with --postgres URL, a database per server

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ACCOUNT = "123456789012"
ROOT_KEY = "AKIAIOSFODNN7EXAMPLE"
ROOT_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
BOTO_REGION = "eu-west-2"
CLI_REGION = "us-east-1"

BANNER_TIMEOUT = 30  # seconds to wait for the first banner line
STOP_TIMEOUT = 30  # seconds to wait for exit after a signal (server grace is 10 s)
CLI_TIMEOUT = 60  # seconds per `aws` invocation
HTTP_TIMEOUT = 30  # seconds per SDK / urllib request

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
KEY_ID_RE = r"^AKIA[A-Z2-7]{16}$"
SECRET_RE = r"^[A-Za-z0-9+/]{40}$"
USER_ID_RE = r"^AIDA[A-Z2-7]{17}$"
BANNER_RE = re.compile(r"^iamlite (\S+) listening on (http://127\.0\.0\.1:(\d+))$")

MSG_INVALID_TOKEN = "The security token included in the request is invalid."
MSG_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation "
    "for details."
)
MSG_KEY_QUOTA = "Cannot exceed quota for AccessKeysPerUser: 2"
MSG_DELETE_CONFLICT_KEYS = "Cannot delete entity, must delete access keys first."
MSG_BAD_USER_NAME = (
    "The specified value for userName is invalid. It must contain only alphanumeric characters "
    "and/or the following: +=,.@_-"
)
MSG_USER_NAME_TOO_LONG = (
    "1 validation error detected: Value at 'userName' failed to satisfy constraint: "
    "Member must have length less than or equal to 64"
)

# Filled in by main() / setUpModule().
IAMLITE_BIN = None
HERMETIC_DIR = None
AWS_CMD = None


def no_such_user(name):
    return f"The user with name {name} cannot be found."


def no_such_key(key_id):
    return f"The Access Key with id {key_id} cannot be found."


_counter = itertools.count(1)


def unique(prefix):
    """A user name no other test uses (also unique across runs sharing nothing but a name)."""
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:6]}"


def fake_key_id():
    """A well-formed access key id of this account that iamlite never issued."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    tail = "".join(alphabet[b % 32] for b in os.urandom(8))
    return "AKIARZPUZDIK" + tail


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


# --- the iamlite process ------------------------------------------------------------------------

_live_processes = set()
_live_lock = threading.Lock()


def _kill_leftovers():
    with _live_lock:
        procs = list(_live_processes)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_kill_leftovers)


class Iamlite:
    """One iamlite process: `--listen 127.0.0.1:0 --db <db>` (or its database, see store.py), endpoint from the banner."""

    def __init__(self, db_path, extra_args=()):
        self.db_path = db_path
        self.extra_args = list(extra_args)
        self.proc = None
        self.endpoint = None
        self.version = None
        self.stdout_lines = []
        self._stdout_cond = threading.Condition()
        self._stdout_eof = False
        self.stderr_path = None

    # -- start --

    def start(self):
        args = [IAMLITE_BIN, "--listen", "127.0.0.1:0", *store.storage_args(self.db_path), *self.extra_args]
        # No inherited IAMLITE_* setting (e.g. IAMLITE_IN_MEMORY) may change what we asked for.
        env = {k: v for k, v in os.environ.items() if not k.startswith("IAMLITE_")}
        fd, self.stderr_path = tempfile.mkstemp(
            prefix="iamlite-", suffix=".stderr", dir=os.path.dirname(self.db_path)
        )
        with os.fdopen(fd, "wb") as stderr:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        with _live_lock:
            _live_processes.add(self.proc)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        try:
            first = self._wait_for_line(0, BANNER_TIMEOUT)
            if first is None:
                code = self.proc.poll()
                why = f"exited with {code}" if code is not None else f"nothing within {BANNER_TIMEOUT}s"
                raise RuntimeError(
                    f"iamlite printed no banner ({why}): {' '.join(args)}\nstderr:\n{self.stderr()}"
                )
            match = BANNER_RE.match(first)
            if not match:
                raise RuntimeError(f"unexpected first banner line {first!r}; stderr:\n{self.stderr()}")
            self.version, self.endpoint = match.group(1), match.group(2)
            # The banner is printed in one go; wait for its last line (the example command).
            deadline = time.monotonic() + 5
            with self._stdout_cond:
                while not any("aws iam create-user" in l for l in self.stdout_lines):
                    left = deadline - time.monotonic()
                    if left <= 0 or self._stdout_eof:
                        break
                    self._stdout_cond.wait(left)
        except BaseException:
            self.kill()
            raise
        return self

    def _read_stdout(self):
        for raw in self.proc.stdout:
            with self._stdout_cond:
                self.stdout_lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self._stdout_cond.notify_all()
        with self._stdout_cond:
            self._stdout_eof = True
            self._stdout_cond.notify_all()

    def _wait_for_line(self, index, timeout):
        deadline = time.monotonic() + timeout
        with self._stdout_cond:
            while len(self.stdout_lines) <= index:
                left = deadline - time.monotonic()
                if left <= 0 or self._stdout_eof:
                    return None
                self._stdout_cond.wait(left)
            return self.stdout_lines[index]

    @property
    def banner(self):
        with self._stdout_cond:
            return "\n".join(self.stdout_lines)

    def stderr(self):
        try:
            with open(self.stderr_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()[-20000:]
        except (OSError, TypeError):
            return ""

    # -- stop --

    def stop(self, sig=signal.SIGTERM):
        """Sends `sig` and returns the exit code (negative = killed by a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"iamlite did not exit within {STOP_TIMEOUT}s of {signal.Signals(sig).name}; "
                f"stderr:\n{self.stderr()}"
            )
        finally:
            self._forget()

    def kill(self):
        """SIGKILL if still running; never raises."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        self._forget()

    def _forget(self):
        if self.proc.poll() is not None:
            with _live_lock:
                _live_processes.discard(self.proc)
            if self.proc.stdout is not None:
                try:
                    self.proc.stdout.close()
                except OSError:
                    pass

    def assert_stops_cleanly(self, sig=signal.SIGTERM):
        code = self.stop(sig)
        if code != 0:
            raise AssertionError(
                f"iamlite exited with {code} after {signal.Signals(sig).name}, expected 0; "
                f"stderr:\n{self.stderr()}"
            )


# --- clients --------------------------------------------------------------------------------------

SDK_CONFIG = Config(
    retries={"total_max_attempts": 1},
    connect_timeout=10,
    read_timeout=HTTP_TIMEOUT,
)


def iam_client(endpoint, key=ROOT_KEY, secret=ROOT_SECRET, region=BOTO_REGION):
    return boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=SDK_CONFIG,
    )


def sts_client(endpoint, key=ROOT_KEY, secret=ROOT_SECRET, region=BOTO_REGION):
    return boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=SDK_CONFIG,
    )


def cli_env(key, secret, region, token=None):
    """A from-scratch environment: nothing of the user's AWS setup can leak into the CLI."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": HERMETIC_DIR,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.path.join(HERMETIC_DIR, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(HERMETIC_DIR, "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        **({"AWS_SESSION_TOKEN": token} if token else {}),
    }
    return env


class CliResult:
    def __init__(self, args, proc):
        self.args = args
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    @property
    def json(self):
        return json.loads(self.stdout) if self.stdout.strip() else None

    def __repr__(self):
        return f"aws {' '.join(self.args)} -> rc={self.rc}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


# --- base test classes -------------------------------------------------------------------------


class CompatCase(unittest.TestCase):
    """Assertion helpers shared by all classes."""

    maxDiff = None

    def assert_request_id(self, response):
        meta = response["ResponseMetadata"]
        self.assertEqual(meta["HTTPStatusCode"], 200)
        self.assertRegex(meta["RequestId"], UUID_RE)
        self.assertEqual(meta["HTTPHeaders"].get("x-amzn-requestid"), meta["RequestId"])
        self.assertTrue(meta["HTTPHeaders"].get("content-type", "").startswith("text/xml"), meta)

    def assert_client_error(self, call, code, status, message=None, message_re=None):
        """Runs `call`, which must raise ClientError with this code/status (and message)."""
        with self.assertRaises(ClientError) as cm:
            call()
        response = cm.exception.response
        error, meta = response["Error"], response["ResponseMetadata"]
        got = (error.get("Code"), meta.get("HTTPStatusCode"))
        self.assertEqual(got, (code, status), f"error response: {response}")
        if message is not None:
            self.assertEqual(error.get("Message"), message)
        if message_re is not None:
            self.assertRegex(error.get("Message", ""), message_re)
        self.assertEqual(error.get("Type"), "Sender", f"error response: {response}")
        self.assertRegex(meta.get("RequestId", ""), UUID_RE)
        self.assertEqual(meta["HTTPHeaders"].get("x-amzn-requestid"), meta["RequestId"])
        return cm.exception

    def assert_recent(self, when, slack=300):
        self.assertIsInstance(when, datetime.datetime)
        self.assertIsNotNone(when.tzinfo)
        self.assertLess(abs((now_utc() - when).total_seconds()), slack, when)


class ServerCase(CompatCase):
    """One iamlite per class, on a private SQLite file; stopped with SIGTERM (exit code 0)."""

    server = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tmp = tempfile.mkdtemp(prefix="iamlite-compat-")
        cls.addClassCleanup(shutil.rmtree, tmp, ignore_errors=True)
        cls.server = Iamlite(os.path.join(tmp, "state.db"))
        cls.addClassCleanup(cls.server.kill)
        cls.server.start()
        cls.endpoint = cls.server.endpoint

    @classmethod
    def tearDownClass(cls):
        cls.server.assert_stops_cleanly(signal.SIGTERM)
        super().tearDownClass()

    # boto3 ------------------------------------------------------------------------------------

    def iam(self, key=ROOT_KEY, secret=ROOT_SECRET, region=BOTO_REGION):
        return iam_client(self.endpoint, key, secret, region)

    def sts(self, key=ROOT_KEY, secret=ROOT_SECRET, region=BOTO_REGION):
        return sts_client(self.endpoint, key, secret, region)

    def user_with_key(self, prefix, **create_args):
        iam = self.iam()
        name = unique(prefix)
        iam.create_user(UserName=name, **create_args)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return name, key["AccessKeyId"], key["SecretAccessKey"]

    # aws CLI ----------------------------------------------------------------------------------

    def aws(self, *args, key=ROOT_KEY, secret=ROOT_SECRET, region=CLI_REGION, token=None, cwd=None):
        argv = [*args, "--endpoint-url", self.endpoint, "--output", "json"]
        proc = subprocess.run(
            [*AWS_CMD, *argv],
            env=cli_env(key, secret, region, token),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=CLI_TIMEOUT,
        )
        return CliResult(argv, proc)

    def aws_ok(self, *args, **kw):
        """Runs `aws ...`, which must succeed; returns its parsed JSON output (None if empty)."""
        result = self.aws(*args, **kw)
        self.assertEqual(result.rc, 0, repr(result))
        return result.json

    def aws_fails(self, *args, code, operation, message, **kw):
        """Runs `aws ...`, which must exit 255 with `An error occurred (<code>) ...: <message>`."""
        result = self.aws(*args, **kw)
        self.assertEqual(result.rc, 255, repr(result))
        self.assertIn(f"An error occurred ({code})", result.stderr, repr(result))
        self.assertIn(
            f"An error occurred ({code}) when calling the {operation} operation: {message}",
            result.stderr,
            repr(result),
        )
        self.assertEqual(result.stdout, "", repr(result))
        return result


# --- the real aws CLI ------------------------------------------------------------------------


class AwsCliTest(ServerCase):
    """The seed scenario and the user actions, through `aws` (awscli v1) as a user would type them."""

    def test_seed_scenario(self):
        user = self.aws_ok("iam", "create-user", "--user-name", "alice")["User"]
        self.assertEqual(user["UserName"], "alice")
        self.assertEqual(user["Path"], "/")
        self.assertEqual(user["Arn"], f"arn:aws:iam::{ACCOUNT}:user/alice")
        self.assertRegex(user["UserId"], USER_ID_RE)

        key = self.aws_ok("iam", "create-access-key", "--user-name", "alice")["AccessKey"]
        k1, s1 = key["AccessKeyId"], key["SecretAccessKey"]
        self.assertRegex(k1, KEY_ID_RE)
        self.assertEqual(len(s1), 40)
        self.assertRegex(s1, SECRET_RE)
        self.assertEqual(key["Status"], "Active")
        self.assertEqual(key["UserName"], "alice")

        listed = self.aws_ok("iam", "list-access-keys", "--user-name", "alice")
        self.assertEqual(
            [(m["AccessKeyId"], m["Status"], m["UserName"]) for m in listed["AccessKeyMetadata"]],
            [(k1, "Active", "alice")],
        )
        self.assertNotIn("SecretAccessKey", listed["AccessKeyMetadata"][0])

        # Never used: N/A, no date.
        last = self.aws_ok("iam", "get-access-key-last-used", "--access-key-id", k1)
        self.assertEqual(last["UserName"], "alice")
        self.assertEqual(last["AccessKeyLastUsed"], {"ServiceName": "N/A", "Region": "N/A"})

        # Alice signs with her own key.
        me = self.aws_ok("sts", "get-caller-identity", key=k1, secret=s1)
        self.assertEqual(me["Arn"], f"arn:aws:iam::{ACCOUNT}:user/alice")
        self.assertEqual(me["Account"], ACCOUNT)
        self.assertEqual(me["UserId"], user["UserId"])
        last = self.aws_ok("iam", "get-access-key-last-used", "--access-key-id", k1)
        self.assertEqual(last["AccessKeyLastUsed"]["ServiceName"], "sts")
        self.assertEqual(last["AccessKeyLastUsed"]["Region"], CLI_REGION)
        self.assertIn("LastUsedDate", last["AccessKeyLastUsed"])

        # An IAM call signed for another region: the region comes from the signing scope.
        own = self.aws_ok("iam", "list-access-keys", key=k1, secret=s1, region="eu-west-3")
        self.assertEqual([m["AccessKeyId"] for m in own["AccessKeyMetadata"]], [k1])
        last = self.aws_ok("iam", "get-access-key-last-used", "--access-key-id", k1)
        self.assertEqual(last["AccessKeyLastUsed"]["ServiceName"], "iam")
        self.assertEqual(last["AccessKeyLastUsed"]["Region"], "eu-west-3")

        # Inactive: every call with the key fails.
        self.assertIsNone(
            self.aws_ok(
                "iam", "update-access-key", "--user-name", "alice",
                "--access-key-id", k1, "--status", "Inactive",
            )
        )
        listed = self.aws_ok("iam", "list-access-keys", "--user-name", "alice")
        self.assertEqual(listed["AccessKeyMetadata"][0]["Status"], "Inactive")
        self.aws_fails(
            "sts", "get-caller-identity", key=k1, secret=s1,
            code="InvalidClientTokenId", operation="GetCallerIdentity", message=MSG_INVALID_TOKEN,
        )
        self.aws_fails(
            "iam", "list-users", key=k1, secret=s1,
            code="InvalidClientTokenId", operation="ListUsers", message=MSG_INVALID_TOKEN,
        )

        # A second key works; a third one (the inactive key still counts) hits the quota.
        key2 = self.aws_ok("iam", "create-access-key", "--user-name", "alice")["AccessKey"]
        k2, s2 = key2["AccessKeyId"], key2["SecretAccessKey"]
        self.assertNotEqual(k1, k2)
        self.assertEqual(
            self.aws_ok("sts", "get-caller-identity", key=k2, secret=s2)["Arn"],
            f"arn:aws:iam::{ACCOUNT}:user/alice",
        )
        self.aws_fails(
            "iam", "create-access-key", "--user-name", "alice",
            code="LimitExceeded", operation="CreateAccessKey", message=MSG_KEY_QUOTA,
        )

        # Deleted: the key is gone from the listing and rejected.
        self.assertIsNone(
            self.aws_ok("iam", "delete-access-key", "--user-name", "alice", "--access-key-id", k2)
        )
        self.aws_fails(
            "sts", "get-caller-identity", key=k2, secret=s2,
            code="InvalidClientTokenId", operation="GetCallerIdentity", message=MSG_INVALID_TOKEN,
        )
        listed = self.aws_ok("iam", "list-access-keys", "--user-name", "alice")
        self.assertEqual([m["AccessKeyId"] for m in listed["AccessKeyMetadata"]], [k1])
        self.aws_fails(
            "iam", "delete-access-key", "--user-name", "alice", "--access-key-id", k2,
            code="NoSuchEntity", operation="DeleteAccessKey", message=no_such_key(k2),
        )
        self.aws_ok("iam", "delete-access-key", "--user-name", "alice", "--access-key-id", k1)
        self.aws_fails(
            "sts", "get-caller-identity", key=k1, secret=s1,
            code="InvalidClientTokenId", operation="GetCallerIdentity", message=MSG_INVALID_TOKEN,
        )
        # (The CLI pages through list calls itself and drops IsTruncated/Marker from its output.)
        listed = self.aws_ok("iam", "list-access-keys", "--user-name", "alice")
        self.assertEqual(listed, {"AccessKeyMetadata": []})

        # Unknown user.
        self.aws_fails(
            "iam", "create-access-key", "--user-name", "ghost",
            code="NoSuchEntity", operation="CreateAccessKey", message=no_such_user("ghost"),
        )
        self.aws_fails(
            "iam", "get-user", "--user-name", "ghost",
            code="NoSuchEntity", operation="GetUser", message=no_such_user("ghost"),
        )

    def test_user_tags(self):
        name = unique("cli-tags")
        self.aws_ok("iam", "create-user", "--user-name", name)
        self.assertEqual(self.aws_ok("iam", "list-user-tags", "--user-name", name), {"Tags": []})
        self.assertIsNone(
            self.aws_ok(
                "iam", "tag-user", "--user-name", name,
                "--tags", "Key=team,Value=platform", "Key=env,Value=dev", "Key=empty,Value=",
            )
        )
        tags = self.aws_ok("iam", "list-user-tags", "--user-name", name)
        self.assertEqual(
            tags["Tags"],
            [
                {"Key": "empty", "Value": ""},
                {"Key": "env", "Value": "dev"},
                {"Key": "team", "Value": "platform"},
            ],
        )
        user = self.aws_ok("iam", "get-user", "--user-name", name)["User"]
        self.assertEqual(
            sorted((t["Key"], t["Value"]) for t in user["Tags"]),
            [("empty", ""), ("env", "dev"), ("team", "platform")],
        )
        # Overwrite one, remove two (one of them absent: still fine).
        self.aws_ok("iam", "tag-user", "--user-name", name, "--tags", "Key=env,Value=prod")
        self.assertIsNone(
            self.aws_ok("iam", "untag-user", "--user-name", name, "--tag-keys", "team", "empty", "nope")
        )
        tags = self.aws_ok("iam", "list-user-tags", "--user-name", name)
        self.assertEqual(tags["Tags"], [{"Key": "env", "Value": "prod"}])
        self.aws_fails(
            "iam", "tag-user", "--user-name", "ghost", "--tags", "Key=a,Value=b",
            code="NoSuchEntity", operation="TagUser", message=no_such_user("ghost"),
        )
        self.aws_fails(
            "iam", "list-user-tags", "--user-name", "ghost",
            code="NoSuchEntity", operation="ListUserTags", message=no_such_user("ghost"),
        )

    def test_list_users_with_path_prefix(self):
        base = f"/cli-{uuid.uuid4().hex[:8]}/"
        eng = [unique("cli-eng"), unique("cli-eng")]
        ops = unique("cli-ops")
        for name in eng:
            user = self.aws_ok("iam", "create-user", "--user-name", name, "--path", base + "eng/")["User"]
            self.assertEqual(user["Path"], base + "eng/")
            self.assertEqual(user["Arn"], f"arn:aws:iam::{ACCOUNT}:user{base}eng/{name}")
        self.aws_ok("iam", "create-user", "--user-name", ops, "--path", base + "ops/")

        def names(prefix):
            out = self.aws_ok("iam", "list-users", "--path-prefix", prefix)
            for u in out["Users"]:
                self.assertNotIn("Tags", u)
            return sorted(u["UserName"] for u in out["Users"])

        self.assertEqual(names(base + "eng/"), sorted(eng))
        self.assertEqual(names(base), sorted(eng + [ops]))
        self.assertEqual(names(base + "op"), [ops])  # a plain string prefix, not a path segment
        self.assertEqual(names(f"/nomatch-{uuid.uuid4().hex[:8]}/"), [])
        everyone = self.aws_ok("iam", "list-users")["Users"]
        self.assertTrue(set(eng + [ops]) <= {u["UserName"] for u in everyone})

    def test_update_user_renames_and_keys_follow(self):
        old, new = unique("cli-old"), unique("cli-new")
        before = self.aws_ok("iam", "create-user", "--user-name", old)["User"]
        key = self.aws_ok("iam", "create-access-key", "--user-name", old)["AccessKey"]
        self.assertIsNone(
            self.aws_ok("iam", "update-user", "--user-name", old, "--new-user-name", new, "--new-path", "/moved/")
        )
        self.aws_fails(
            "iam", "get-user", "--user-name", old,
            code="NoSuchEntity", operation="GetUser", message=no_such_user(old),
        )
        after = self.aws_ok("iam", "get-user", "--user-name", new)["User"]
        self.assertEqual(after["UserName"], new)
        self.assertEqual(after["UserId"], before["UserId"])
        self.assertEqual(after["CreateDate"], before["CreateDate"])
        self.assertEqual(after["Path"], "/moved/")
        self.assertEqual(after["Arn"], f"arn:aws:iam::{ACCOUNT}:user/moved/{new}")
        keys = self.aws_ok("iam", "list-access-keys", "--user-name", new)["AccessKeyMetadata"]
        self.assertEqual([(k["AccessKeyId"], k["UserName"]) for k in keys], [(key["AccessKeyId"], new)])
        me = self.aws_ok("sts", "get-caller-identity", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
        self.assertEqual(me["Arn"], f"arn:aws:iam::{ACCOUNT}:user/moved/{new}")
        self.assertEqual(me["UserId"], before["UserId"])
        self.aws_fails(
            "iam", "update-user", "--user-name", "ghost", "--new-user-name", unique("cli-x"),
            code="NoSuchEntity", operation="UpdateUser", message=no_such_user("ghost"),
        )

    def test_delete_user_with_keys_is_a_conflict(self):
        name = unique("cli-del")
        self.aws_ok("iam", "create-user", "--user-name", name)
        key = self.aws_ok("iam", "create-access-key", "--user-name", name)["AccessKey"]
        self.aws_fails(
            "iam", "delete-user", "--user-name", name,
            code="DeleteConflict", operation="DeleteUser", message=MSG_DELETE_CONFLICT_KEYS,
        )
        self.aws_ok("iam", "get-user", "--user-name", name)  # still there
        self.aws_ok("iam", "delete-access-key", "--user-name", name, "--access-key-id", key["AccessKeyId"])
        self.assertIsNone(self.aws_ok("iam", "delete-user", "--user-name", name))
        self.aws_fails(
            "iam", "get-user", "--user-name", name,
            code="NoSuchEntity", operation="GetUser", message=no_such_user(name),
        )
        self.aws_fails(
            "iam", "delete-user", "--user-name", name,
            code="NoSuchEntity", operation="DeleteUser", message=no_such_user(name),
        )

    def test_get_user_and_caller_identity_as_root(self):
        user = self.aws_ok("iam", "get-user")["User"]
        self.assertTrue(user["Arn"].endswith(":root"), user)
        self.assertEqual(user["Arn"], ROOT_ARN)
        self.assertEqual(user["UserId"], ACCOUNT)
        self.assertNotIn("UserName", user)
        me = self.aws_ok("sts", "get-caller-identity")
        self.assertEqual(me, {"UserId": ACCOUNT, "Account": ACCOUNT, "Arn": ROOT_ARN})

    def test_cli_auth_errors(self):
        self.aws_fails(
            "iam", "list-users", key=fake_key_id(), secret=ROOT_SECRET,
            code="InvalidClientTokenId", operation="ListUsers", message=MSG_INVALID_TOKEN,
        )
        self.aws_fails(
            "sts", "get-caller-identity", key=ROOT_KEY, secret="x" * 40,
            code="SignatureDoesNotMatch", operation="GetCallerIdentity", message=MSG_BAD_SIGNATURE,
        )


# --- boto3 -----------------------------------------------------------------------------------


class Boto3Test(ServerCase):
    """The same flows through boto3, with every error checked field by field."""

    def test_main_flow(self):
        iam = self.iam()
        name = unique("b3-main")
        created = iam.create_user(UserName=name)
        self.assert_request_id(created)
        user = created["User"]
        self.assertEqual(user["Arn"], f"arn:aws:iam::{ACCOUNT}:user/{name}")
        self.assertRegex(user["UserId"], USER_ID_RE)
        self.assert_recent(user["CreateDate"])
        self.assertNotIn("Tags", user)

        key = iam.create_access_key(UserName=name)["AccessKey"]
        kid, secret = key["AccessKeyId"], key["SecretAccessKey"]
        self.assertRegex(kid, KEY_ID_RE)
        self.assertRegex(secret, SECRET_RE)
        self.assertEqual((key["UserName"], key["Status"]), (name, "Active"))
        self.assert_recent(key["CreateDate"])

        listed = iam.list_access_keys(UserName=name)
        self.assertFalse(listed["IsTruncated"])
        self.assertNotIn("Marker", listed)
        self.assertEqual(len(listed["AccessKeyMetadata"]), 1)
        meta = listed["AccessKeyMetadata"][0]
        self.assertEqual((meta["AccessKeyId"], meta["Status"], meta["UserName"]), (kid, "Active", name))
        self.assertNotIn("SecretAccessKey", meta)

        last = iam.get_access_key_last_used(AccessKeyId=kid)
        self.assertEqual(last["UserName"], name)
        self.assertEqual(last["AccessKeyLastUsed"], {"ServiceName": "N/A", "Region": "N/A"})

        me = self.sts(kid, secret).get_caller_identity()
        self.assert_request_id(me)
        self.assertEqual(
            (me["Arn"], me["Account"], me["UserId"]),
            (f"arn:aws:iam::{ACCOUNT}:user/{name}", ACCOUNT, user["UserId"]),
        )
        used = iam.get_access_key_last_used(AccessKeyId=kid)["AccessKeyLastUsed"]
        self.assertEqual((used["ServiceName"], used["Region"]), ("sts", BOTO_REGION))
        self.assert_recent(used["LastUsedDate"])

        # The user manages its own keys without UserName.
        own = self.iam(kid, secret).list_access_keys()
        self.assertEqual([k["AccessKeyId"] for k in own["AccessKeyMetadata"]], [kid])
        used = iam.get_access_key_last_used(AccessKeyId=kid)["AccessKeyLastUsed"]
        self.assertEqual((used["ServiceName"], used["Region"]), ("iam", BOTO_REGION))
        self.assertEqual(self.iam(kid, secret).get_user()["User"]["UserName"], name)

        iam.update_access_key(UserName=name, AccessKeyId=kid, Status="Inactive")
        self.assertEqual(
            iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"], "Inactive"
        )
        self.assert_client_error(
            lambda: self.sts(kid, secret).get_caller_identity(),
            "InvalidClientTokenId", 403, MSG_INVALID_TOKEN,
        )
        self.assert_client_error(
            lambda: self.iam(kid, secret).list_users(),
            "InvalidClientTokenId", 403, MSG_INVALID_TOKEN,
        )
        iam.update_access_key(UserName=name, AccessKeyId=kid, Status="Active")
        self.sts(kid, secret).get_caller_identity()

        iam.delete_access_key(UserName=name, AccessKeyId=kid)
        self.assert_client_error(
            lambda: self.sts(kid, secret).get_caller_identity(),
            "InvalidClientTokenId", 403, MSG_INVALID_TOKEN,
        )
        self.assertEqual(iam.list_access_keys(UserName=name)["AccessKeyMetadata"], [])
        iam.delete_user(UserName=name)
        self.assert_client_error(
            lambda: iam.get_user(UserName=name), "NoSuchEntity", 404, no_such_user(name)
        )

    def test_no_such_entity(self):
        iam = self.iam()
        ghost = unique("b3-ghost")
        msg = no_such_user(ghost)
        calls = {
            "GetUser": lambda: iam.get_user(UserName=ghost),
            "CreateAccessKey": lambda: iam.create_access_key(UserName=ghost),
            "ListAccessKeys": lambda: iam.list_access_keys(UserName=ghost),
            "DeleteUser": lambda: iam.delete_user(UserName=ghost),
            "UpdateUser": lambda: iam.update_user(UserName=ghost, NewUserName=unique("b3-x")),
            "TagUser": lambda: iam.tag_user(UserName=ghost, Tags=[{"Key": "k", "Value": "v"}]),
            "UntagUser": lambda: iam.untag_user(UserName=ghost, TagKeys=["k"]),
            "ListUserTags": lambda: iam.list_user_tags(UserName=ghost),
        }
        for op, call in calls.items():
            with self.subTest(op=op):
                exc = self.assert_client_error(call, "NoSuchEntity", 404, msg)
                # botocore maps the code to the modeled exception class.
                self.assertIsInstance(exc, iam.exceptions.NoSuchEntityException)

        # An existing user, a key that is not one of its keys.
        name = unique("b3-nokey")
        iam.create_user(UserName=name)
        unknown = fake_key_id()
        self.assert_client_error(
            lambda: iam.delete_access_key(UserName=name, AccessKeyId=unknown),
            "NoSuchEntity", 404, no_such_key(unknown),
        )
        self.assert_client_error(
            lambda: iam.update_access_key(UserName=name, AccessKeyId=ROOT_KEY, Status="Inactive"),
            "NoSuchEntity", 404, no_such_key(ROOT_KEY),
        )

    def test_entity_already_exists(self):
        iam = self.iam()
        first = iam.create_user(UserName="alice")["User"]
        exc = self.assert_client_error(
            lambda: iam.create_user(UserName="alice"),
            "EntityAlreadyExists", 409, "User with name alice already exists.",
        )
        self.assertIsInstance(exc, iam.exceptions.EntityAlreadyExistsException)
        # Names are unique ignoring case. Which spelling AWS echoes back is not recorded.
        exc = self.assert_client_error(
            lambda: iam.create_user(UserName="ALICE"), "EntityAlreadyExists", 409
        )
        self.assertEqual(exc.response["Error"]["Message"].lower(), "user with name alice already exists.")
        # Nothing changed: still one alice, the original one.
        self.assertEqual(iam.get_user(UserName="alice")["User"]["UserId"], first["UserId"])
        names = [u["UserName"] for u in iam.list_users()["Users"]]
        self.assertEqual([n for n in names if n.lower() == "alice"], ["alice"])
        # Renaming onto a taken name is refused too.
        other = unique("b3-other")
        iam.create_user(UserName=other)
        self.assert_client_error(
            lambda: iam.update_user(UserName=other, NewUserName="Alice"), "EntityAlreadyExists", 409
        )
        self.assertEqual(iam.get_user(UserName=other)["User"]["UserName"], other)

    def test_limit_exceeded(self):
        iam = self.iam()
        name, first, _ = self.user_with_key("b3-quota")
        iam.update_access_key(UserName=name, AccessKeyId=first, Status="Inactive")
        iam.create_access_key(UserName=name)
        exc = self.assert_client_error(
            lambda: iam.create_access_key(UserName=name), "LimitExceeded", 409, MSG_KEY_QUOTA
        )
        self.assertIsInstance(exc, iam.exceptions.LimitExceededException)
        self.assertEqual(len(iam.list_access_keys(UserName=name)["AccessKeyMetadata"]), 2)

    def test_delete_conflict(self):
        iam = self.iam()
        name, kid, _ = self.user_with_key("b3-conflict")
        exc = self.assert_client_error(
            lambda: iam.delete_user(UserName=name), "DeleteConflict", 409, MSG_DELETE_CONFLICT_KEYS
        )
        self.assertIsInstance(exc, iam.exceptions.DeleteConflictException)
        iam.get_user(UserName=name)
        iam.tag_user(UserName=name, Tags=[{"Key": "k", "Value": "v"}])  # tags do not block deletion
        iam.delete_access_key(UserName=name, AccessKeyId=kid)
        iam.delete_user(UserName=name)

    def test_validation_errors(self):
        iam = self.iam()
        self.assert_client_error(
            lambda: iam.create_user(UserName="bad/name"), "ValidationError", 400, MSG_BAD_USER_NAME
        )
        long_name = "a" * 60 + uuid.uuid4().hex[:5]
        self.assertEqual(len(long_name), 65)
        self.assert_client_error(
            lambda: iam.create_user(UserName=long_name), "ValidationError", 400, MSG_USER_NAME_TOO_LONG
        )
        # A rejected request creates nothing (an existing-user name may be up to 128 long).
        self.assert_client_error(
            lambda: iam.get_user(UserName=long_name), "NoSuchEntity", 404, no_such_user(long_name)
        )
        # 64 is still fine.
        ok = "b" * 58 + uuid.uuid4().hex[:6]
        self.assertEqual(iam.create_user(UserName=ok)["User"]["UserName"], ok)

    def test_unknown_key_is_invalid_client_token_id(self):
        unknown = fake_key_id()
        for name, call in {
            "iam": lambda: self.iam(unknown, ROOT_SECRET).list_users(),
            "sts": lambda: self.sts(unknown, ROOT_SECRET).get_caller_identity(),
        }.items():
            with self.subTest(service=name):
                self.assert_client_error(call, "InvalidClientTokenId", 403, MSG_INVALID_TOKEN)

    def test_wrong_secret_is_signature_does_not_match(self):
        name, kid, secret = self.user_with_key("b3-sig")
        wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
        for label, call in {
            "root iam": lambda: self.iam(ROOT_KEY, ROOT_SECRET[::-1]).list_users(),
            "root sts": lambda: self.sts(ROOT_KEY, ROOT_SECRET[::-1]).get_caller_identity(),
            "user sts": lambda: self.sts(kid, wrong).get_caller_identity(),
        }.items():
            with self.subTest(caller=label):
                self.assert_client_error(call, "SignatureDoesNotMatch", 403, MSG_BAD_SIGNATURE)
        # A failed attempt is no use of the key.
        last = self.iam().get_access_key_last_used(AccessKeyId=kid)["AccessKeyLastUsed"]
        self.assertEqual(last["ServiceName"], "N/A")

    def test_last_used_of_unknown_key_is_access_denied(self):
        unknown = fake_key_id()
        self.assert_client_error(
            lambda: self.iam().get_access_key_last_used(AccessKeyId=unknown),
            "AccessDenied", 403,
            f"User: {ROOT_ARN} is not authorized to perform iam:GetAccessKeyLastUsed "
            f"on resource: access key {unknown}",
        )

    def test_list_users_paginator(self):
        iam = self.iam()
        path = f"/pg{uuid.uuid4().hex[:8]}/"
        tag = uuid.uuid4().hex[:6]
        # Created in alphabetical order, so creation order and name order agree.
        names = [f"pg-{tag}-u{i}" for i in range(1, 6)]
        for n in names:
            iam.create_user(UserName=n, Path=path)
        pages = list(
            iam.get_paginator("list_users").paginate(
                PathPrefix=path, PaginationConfig={"PageSize": 2}
            )
        )
        got = [u["UserName"] for p in pages for u in p["Users"]]
        self.assertEqual(got, names)
        self.assertGreaterEqual(len(pages), 3)
        for page in pages:
            self.assertLessEqual(len(page["Users"]), 2)
        for page in pages[:-1]:
            self.assertTrue(page["IsTruncated"])
            self.assertTrue(page["Marker"])
        self.assertFalse(pages[-1]["IsTruncated"])
        self.assertNotIn("Marker", pages[-1])
        # Same order as one unpaginated call.
        whole = iam.list_users(PathPrefix=path)
        self.assertEqual([u["UserName"] for u in whole["Users"]], names)
        # MaxItems stops early and hands out a token that resumes where it stopped.
        first = iam.get_paginator("list_users").paginate(
            PathPrefix=path, PaginationConfig={"PageSize": 2, "MaxItems": 3}
        ).build_full_result()
        self.assertEqual([u["UserName"] for u in first["Users"]], names[:3])
        self.assertIn("NextToken", first)
        rest = iam.get_paginator("list_users").paginate(
            PathPrefix=path, PaginationConfig={"PageSize": 2, "StartingToken": first["NextToken"]}
        ).build_full_result()
        self.assertEqual([u["UserName"] for u in rest["Users"]], names[3:])

    def test_list_access_keys_paginator(self):
        iam = self.iam()
        name, k1, _ = self.user_with_key("b3-pgkeys")
        k2 = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        pages = list(
            iam.get_paginator("list_access_keys").paginate(
                UserName=name, PaginationConfig={"PageSize": 1}
            )
        )
        self.assertEqual(len(pages), 2)
        self.assertTrue(pages[0]["IsTruncated"])
        self.assertFalse(pages[-1]["IsTruncated"])
        got = [k["AccessKeyId"] for p in pages for k in p["AccessKeyMetadata"]]
        self.assertEqual(sorted(got), sorted([k1, k2]))
        whole = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        self.assertEqual(got, [k["AccessKeyId"] for k in whole])
        # PageSize 2 over the same 2 keys: one page, nothing truncated.
        pages = list(
            iam.get_paginator("list_access_keys").paginate(
                UserName=name, PaginationConfig={"PageSize": 2}
            )
        )
        self.assertEqual([k["AccessKeyId"] for p in pages for k in p["AccessKeyMetadata"]], got)
        self.assertFalse(pages[-1]["IsTruncated"])

    def test_list_user_tags_paginator(self):
        iam = self.iam()
        name = unique("b3-pgtags")
        tags = [{"Key": f"k{i}", "Value": f"v{i}"} for i in (3, 1, 5, 2, 4)]
        iam.create_user(UserName=name, Tags=tags)
        pages = list(
            iam.get_paginator("list_user_tags").paginate(
                UserName=name, PaginationConfig={"PageSize": 2}
            )
        )
        self.assertGreaterEqual(len(pages), 3)
        got = [t for p in pages for t in p["Tags"]]
        self.assertEqual(got, sorted(tags, key=lambda t: t["Key"]))

    def test_tag_values_round_trip(self):
        iam = self.iam()
        name = unique("b3-tags")
        # Everything the tag pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]* allows, non-ASCII included.
        tags = [
            {"Key": "greeting", "Value": "Grüße naïve café"},
            {"Key": "cjk", "Value": "日本語 テキスト 한국어"},
            {"Key": "mixed", "Value": "Ünïcödé ΑΒΓ αβγ Ωμέγα ١٢٣ ½"},
            {"Key": "punct", "Value": "a_b.c:d/e=f+g-h@i j\u00a0k\u3000l"},
            {"Key": "empty", "Value": ""},
            {"Key": "clé", "Value": "valeur"},
            {"Key": "with space", "Value": "x+y=z"},
        ]
        created = iam.create_user(UserName=name, Tags=tags)["User"]
        want = sorted(tags, key=lambda t: t["Key"])
        self.assertEqual(sorted(created["Tags"], key=lambda t: t["Key"]), want)
        self.assertEqual(sorted(iam.get_user(UserName=name)["User"]["Tags"], key=lambda t: t["Key"]), want)
        self.assertEqual(
            sorted(iam.list_user_tags(UserName=name)["Tags"], key=lambda t: t["Key"]), want
        )
        iam.untag_user(UserName=name, TagKeys=["clé", "with space"])
        left = {t["Key"] for t in iam.list_user_tags(UserName=name)["Tags"]}
        self.assertEqual(left, {"greeting", "cjk", "mixed", "punct", "empty"})

    def test_xml_special_characters_round_trip(self):
        """`& < > " '` travel through the request encoding and the XML answer unchanged.

        AWS's tag pattern has none of them (see test_tag_values_outside_the_pattern_are_refused);
        a user Path may hold any printable ASCII, so the path and ARN carry them here.
        """
        iam = self.iam()
        name = unique("b3-xml")
        path = "/a&b<c>d\"e'f&amp;g]]>h/"
        user = iam.create_user(UserName=name, Path=path)["User"]
        self.assertEqual(user["Path"], path)
        self.assertEqual(user["Arn"], f"arn:aws:iam::{ACCOUNT}:user{path}{name}")
        got = iam.get_user(UserName=name)["User"]
        self.assertEqual((got["Path"], got["Arn"]), (path, user["Arn"]))
        listed = iam.list_users(PathPrefix="/a&b<c>")["Users"]
        self.assertIn((name, path, user["Arn"]), [(u["UserName"], u["Path"], u["Arn"]) for u in listed])
        kid = iam.create_access_key(UserName=name)["AccessKey"]
        me = self.sts(kid["AccessKeyId"], kid["SecretAccessKey"]).get_caller_identity()
        self.assertEqual(me["Arn"], user["Arn"])

    def test_tag_values_outside_the_pattern_are_refused(self):
        iam = self.iam()
        name = unique("b3-badtag")
        iam.create_user(UserName=name)
        for value in ["a&b", "<x>", 'say "hi"', "it's"]:
            with self.subTest(value=value):
                self.assert_client_error(
                    lambda: iam.tag_user(UserName=name, Tags=[{"Key": "k", "Value": value}]),
                    "ValidationError", 400,
                    "1 validation error detected: Value at 'tags.1.member.value' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: "
                    "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*",
                )
        self.assertEqual(iam.list_user_tags(UserName=name)["Tags"], [])

    def test_get_access_key_info(self):
        name, kid, secret = self.user_with_key("b3-info")
        info = self.sts().get_access_key_info(AccessKeyId=kid)
        self.assert_request_id(info)
        self.assertEqual(info["Account"], ACCOUNT)
        # The key's owner may ask too.
        self.assertEqual(self.sts(kid, secret).get_access_key_info(AccessKeyId=kid)["Account"], ACCOUNT)

    def test_presigned_get_caller_identity(self):
        """A presigned GetCallerIdentity URL, as `aws eks get-token` / aws-iam-authenticator make it.

        botocore signs a presigned URL for the operation's modeled method, POST for the Query
        protocol, unless HttpMethod is given; a URL meant to be fetched with GET (what EKS does)
        needs HttpMethod="GET". Both forms are checked.
        """
        name, kid, secret = self.user_with_key("b3-presign")
        sts = self.sts(kid, secret)
        url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
        query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
        self.assertEqual(query["Action"], ["GetCallerIdentity"])
        self.assertIn("X-Amz-Signature", query)
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as resp:
            self.assertEqual(resp.status, 200)
            body = resp.read()
            request_id = resp.headers.get("x-amzn-RequestId")
        ns = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
        root = ET.fromstring(body)
        self.assertEqual(root.tag, "{%s}GetCallerIdentityResponse" % ns["sts"])
        self.assertEqual(
            root.findtext("sts:GetCallerIdentityResult/sts:Arn", namespaces=ns),
            f"arn:aws:iam::{ACCOUNT}:user/{name}",
        )
        self.assertEqual(root.findtext("sts:GetCallerIdentityResult/sts:Account", namespaces=ns), ACCOUNT)
        rid = root.findtext("sts:ResponseMetadata/sts:RequestId", namespaces=ns)
        self.assertRegex(rid, UUID_RE)
        self.assertEqual(request_id, rid)

        # A tampered signature is refused.
        sig = query["X-Amz-Signature"][0]
        bad = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(bad, timeout=HTTP_TIMEOUT)
        self.assertEqual(cm.exception.code, 403)
        body = cm.exception.read()
        cm.exception.close()
        self.assertEqual(ET.fromstring(body).findtext(".//{*}Code"), "SignatureDoesNotMatch")

        # The default presigned URL is signed for POST: POSTing it (empty form body) works, and
        # so does the root key.
        post_url = self.sts().generate_presigned_url("get_caller_identity", ExpiresIn=60)
        req = urllib.request.Request(
            post_url,
            data=b"",
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            self.assertEqual(resp.status, 200)
            body = resp.read()
        self.assertEqual(
            ET.fromstring(body).findtext("sts:GetCallerIdentityResult/sts:Arn", namespaces=ns), ROOT_ARN
        )

    def test_caller_identity_as_root_and_success_metadata(self):
        me = self.sts().get_caller_identity()
        self.assert_request_id(me)
        self.assertEqual(me["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual((me["Arn"], me["UserId"], me["Account"]), (ROOT_ARN, ACCOUNT, ACCOUNT))
        user = self.iam().get_user()["User"]
        self.assertEqual((user["Arn"], user["UserId"]), (ROOT_ARN, ACCOUNT))
        # Each response has its own id.
        ids = {self.sts().get_caller_identity()["ResponseMetadata"]["RequestId"] for _ in range(3)}
        self.assertEqual(len(ids), 3)


# --- restart ---------------------------------------------------------------------------------


def totp(seed_base32, unix_seconds):
    """RFC 6238 (HMAC-SHA1, 30 s, 6 digits) from the standard library, as an authenticator app."""
    import base64
    import hashlib
    import hmac
    import struct

    key = base64.b32decode(seed_base32)
    digest = hmac.new(key, struct.pack(">Q", int(unix_seconds) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1000000:06d}"


class SessionsTest(ServerCase):
    """Temporary credentials and MFA, with the aws CLI (the issue's session) and boto3."""

    def clock(self, body):
        req = urllib.request.Request(
            self.endpoint + "/_iamlite/clock", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
            return json.loads(r.read())

    def now(self):
        return time.time() + self.clock_offset

    def setUp(self):
        self.clock_offset = self.clock({"reset": True})["offset_seconds"]

    def test_aws_cli_mfa_session(self):
        name = unique("mfa")
        self.aws_ok("iam", "create-user", "--user-name", name)
        key = self.aws_ok("iam", "create-access-key", "--user-name", name)["AccessKey"]
        kid, secret = key["AccessKeyId"], key["SecretAccessKey"]
        work = tempfile.mkdtemp(prefix="iamlite-mfa-")
        self.addCleanup(shutil.rmtree, work, ignore_errors=True)
        # The QR code a phone would scan, and the seed a script can use: one device each.
        qr = self.aws_ok(
            "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", name + "-qr",
            "--outfile", "qr.png", "--bootstrap-method", "QRCodePNG", cwd=work,
        )
        with open(os.path.join(work, "qr.png"), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertEqual(qr["VirtualMFADevice"]["SerialNumber"], f"arn:aws:iam::{ACCOUNT}:mfa/{name}-qr")
        self.aws_ok(
            "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", name,
            "--outfile", "seed.txt", "--bootstrap-method", "Base32StringSeed", cwd=work,
        )
        with open(os.path.join(work, "seed.txt")) as f:
            seed = f.read().strip()
        serial = f"arn:aws:iam::{ACCOUNT}:mfa/{name}"
        now = self.now()
        self.aws_ok(
            "iam", "enable-mfa-device", "--user-name", name, "--serial-number", serial,
            "--authentication-code1", totp(seed, now - 30), "--authentication-code2", totp(seed, now),
        )
        creds = self.aws_ok(
            "sts", "get-session-token", "--serial-number", serial,
            "--token-code", totp(seed, now + 30), key=kid, secret=secret,
        )["Credentials"]
        self.assertTrue(creds["AccessKeyId"].startswith("ASIA"))
        session = dict(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
        me = self.aws_ok("sts", "get-caller-identity", **session)
        self.assertEqual(me["Arn"], f"arn:aws:iam::{ACCOUNT}:user/{name}")
        listed = self.aws_ok("iam", "list-access-keys", **session)
        self.assertEqual([k["AccessKeyId"] for k in listed["AccessKeyMetadata"]], [kid])
        self.clock({"advance": "13h"})
        self.aws_fails(
            "sts", "get-caller-identity", code="ExpiredToken", operation="GetCallerIdentity",
            message="The security token included in the request is expired", **session,
        )
        self.aws_fails(
            "sts", "get-session-token", "--serial-number", serial, "--token-code", "000000",
            code="AccessDenied", operation="GetSessionToken",
            message="MultiFactorAuthentication failed with invalid MFA one time pass code.",
            key=kid, secret=secret,
        )

    def test_boto3_session_without_mfa(self):
        name, kid, secret = self.user_with_key("sess")
        creds = self.sts(kid, secret).get_session_token(DurationSeconds=900)["Credentials"]
        self.assert_recent(creds["Expiration"], slack=1000)
        kw = dict(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], endpoint_url=self.endpoint,
            region_name=BOTO_REGION, config=SDK_CONFIG,
        )
        sts = boto3.client("sts", **kw)
        self.assertEqual(sts.get_caller_identity()["Arn"], f"arn:aws:iam::{ACCOUNT}:user/{name}")
        iam = boto3.client("iam", **kw)
        self.assert_client_error(iam.list_users, "InvalidClientTokenId", 403, MSG_INVALID_TOKEN)
        self.assert_client_error(
            lambda: sts.get_session_token(), "AccessDenied", 403,
            "Cannot call GetSessionToken with session credentials",
        )
        token = creds["SessionToken"]
        tampered = token[:-1] + ("B" if token[-1] == "A" else "A")
        wrong = boto3.client("sts", **{**kw, "aws_session_token": tampered})
        self.assert_client_error(wrong.get_caller_identity, "InvalidClientTokenId", 403, MSG_INVALID_TOKEN)
        self.clock({"advance": "16m"})
        self.assert_client_error(
            sts.get_caller_identity, "ExpiredToken", 403,
            "The security token included in the request is expired",
        )


class RestartTest(CompatCase):
    """State in the --db file survives SIGTERM and SIGKILL; each test runs its own processes."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="iamlite-restart-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.db = os.path.join(self.tmp, "state.db")

    def start(self):
        server = Iamlite(self.db)
        self.addCleanup(server.kill)
        return server.start()

    def clients(self, server):
        return iam_client(server.endpoint), sts_client(server.endpoint)

    def _write_state(self, server):
        """Writes a little of everything; returns what must be found after the restart."""
        iam, _ = self.clients(server)
        name = unique("rs-user")
        user = iam.create_user(UserName=name, Path="/restart/", Tags=[{"Key": "team", "Value": "ops"}])["User"]
        active = iam.create_access_key(UserName=name)["AccessKey"]
        inactive = iam.create_access_key(UserName=name)["AccessKey"]
        iam.update_access_key(UserName=name, AccessKeyId=inactive["AccessKeyId"], Status="Inactive")
        # Used once, so last-used must survive too.
        sts_client(server.endpoint, active["AccessKeyId"], active["SecretAccessKey"]).get_caller_identity()
        # A renamed user, a deleted user and a deleted key must stay that way.
        old, new = unique("rs-old"), unique("rs-new")
        iam.create_user(UserName=old)
        iam.update_user(UserName=old, NewUserName=new)
        gone = unique("rs-gone")
        iam.create_user(UserName=gone)
        gone_key = iam.create_access_key(UserName=gone)["AccessKey"]
        iam.delete_access_key(UserName=gone, AccessKeyId=gone_key["AccessKeyId"])
        iam.delete_user(UserName=gone)
        # Many small writes right before the stop.
        burst = [f"{name}-b{i}" for i in range(20)]
        for b in burst:
            iam.create_user(UserName=b)
        return {
            "user": user, "active": active, "inactive": inactive,
            "old": old, "new": new, "gone": gone, "gone_key": gone_key, "burst": burst,
        }

    def _check_state(self, server, s):
        iam, _ = self.clients(server)
        name = s["user"]["UserName"]
        users = {u["UserName"]: u for u in iam.list_users()["Users"]}
        self.assertIn(name, users)
        self.assertEqual(users[name]["UserId"], s["user"]["UserId"])
        self.assertEqual(users[name]["Arn"], s["user"]["Arn"])
        self.assertEqual(users[name]["CreateDate"], s["user"]["CreateDate"])
        for b in s["burst"]:
            self.assertIn(b, users)
        self.assertIn(s["new"], users)
        self.assertNotIn(s["old"], users)
        self.assertNotIn(s["gone"], users)
        self.assertEqual(iam.list_user_tags(UserName=name)["Tags"], [{"Key": "team", "Value": "ops"}])

        keys = {k["AccessKeyId"]: k for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}
        self.assertEqual(
            {kid: k["Status"] for kid, k in keys.items()},
            {s["active"]["AccessKeyId"]: "Active", s["inactive"]["AccessKeyId"]: "Inactive"},
        )
        self.assertEqual(keys[s["active"]["AccessKeyId"]]["CreateDate"], s["active"]["CreateDate"])

        used = iam.get_access_key_last_used(AccessKeyId=s["active"]["AccessKeyId"])["AccessKeyLastUsed"]
        self.assertEqual((used["ServiceName"], used["Region"]), ("sts", BOTO_REGION))

        # The stored secret still signs; the inactive and deleted keys still do not.
        me = sts_client(
            server.endpoint, s["active"]["AccessKeyId"], s["active"]["SecretAccessKey"]
        ).get_caller_identity()
        self.assertEqual(me["Arn"], s["user"]["Arn"])
        self.assertEqual(me["UserId"], s["user"]["UserId"])
        for label, key in (("inactive", s["inactive"]), ("deleted", s["gone_key"])):
            with self.subTest(key=label):
                self.assert_client_error(
                    lambda: sts_client(
                        server.endpoint, key["AccessKeyId"], key["SecretAccessKey"]
                    ).get_caller_identity(),
                    "InvalidClientTokenId", 403, MSG_INVALID_TOKEN,
                )
        # The root key is still the root key.
        self.assertEqual(sts_client(server.endpoint).get_caller_identity()["Arn"], ROOT_ARN)

    def test_state_survives_sigterm(self):
        first = self.start()
        state = self._write_state(first)
        first.assert_stops_cleanly(signal.SIGTERM)
        second = self.start()
        self.assertNotEqual(second.endpoint, None)
        self._check_state(second, state)
        second.assert_stops_cleanly(signal.SIGTERM)

    def test_state_survives_sigkill(self):
        first = self.start()
        state = self._write_state(first)
        # No grace: every acknowledged write must already be on disk.
        self.assertEqual(first.stop(signal.SIGKILL), -signal.SIGKILL)
        second = self.start()
        self._check_state(second, state)
        second.assert_stops_cleanly(signal.SIGTERM)

    def test_inactive_key_stays_inactive_and_reactivation_persists(self):
        server = self.start()
        iam, _ = self.clients(server)
        name = unique("rs-inactive")
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        kid, secret = key["AccessKeyId"], key["SecretAccessKey"]
        iam.update_access_key(UserName=name, AccessKeyId=kid, Status="Inactive")
        server.assert_stops_cleanly(signal.SIGTERM)

        server = self.start()
        iam, _ = self.clients(server)
        self.assertEqual(iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"], "Inactive")
        self.assert_client_error(
            lambda: sts_client(server.endpoint, kid, secret).get_caller_identity(),
            "InvalidClientTokenId", 403, MSG_INVALID_TOKEN,
        )
        iam.update_access_key(UserName=name, AccessKeyId=kid, Status="Active")
        self.assertEqual(server.stop(signal.SIGKILL), -signal.SIGKILL)

        server = self.start()
        iam, _ = self.clients(server)
        self.assertEqual(iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"], "Active")
        me = sts_client(server.endpoint, kid, secret).get_caller_identity()
        self.assertEqual(me["Arn"], f"arn:aws:iam::{ACCOUNT}:user/{name}")
        server.assert_stops_cleanly(signal.SIGTERM)

    def test_sigint_also_exits_cleanly(self):
        server = self.start()
        name = unique("rs-int")
        iam_client(server.endpoint).create_user(UserName=name)
        server.assert_stops_cleanly(signal.SIGINT)
        server = self.start()
        self.assertEqual(iam_client(server.endpoint).get_user(UserName=name)["User"]["UserName"], name)
        server.assert_stops_cleanly(signal.SIGTERM)


# --- banner ----------------------------------------------------------------------------------


class BannerTest(ServerCase):
    def test_banner(self):
        lines = self.server.banner.splitlines()
        self.assertTrue(lines[0].startswith("iamlite "), lines[0])
        self.assertIn("listening on http://127.0.0.1:", lines[0])
        self.assertRegex(lines[0], BANNER_RE)
        port = int(BANNER_RE.match(lines[0]).group(3))
        self.assertGreater(port, 0)
        self.assertIn(ACCOUNT, self.server.banner)
        self.assertIn(ROOT_KEY, self.server.banner)
        self.assertIn(store.shown(self.server.db_path), self.server.banner)
        # The endpoint in the banner is the one that answers.
        self.assertEqual(self.sts().get_caller_identity()["Arn"], ROOT_ARN)

    def test_logs_go_to_stderr_not_stdout(self):
        self.iam().list_users()
        banner_lines = len(self.server.banner.splitlines())
        self.iam().list_users()
        self.assertEqual(len(self.server.banner.splitlines()), banner_lines)
        self.assertNotIn("ListUsers", self.server.banner)


class CustomAccountBannerTest(CompatCase):
    """--account-id and the root key flags show up in the banner and in the answers."""

    def test_custom_account_and_root_key(self):
        tmp = tempfile.mkdtemp(prefix="iamlite-banner-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        account, key, secret = "111122223333", "AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
        server = Iamlite(
            os.path.join(tmp, "state.db"),
            ["--account-id", account, "--root-access-key-id", key, "--root-secret-access-key", secret],
        )
        self.addCleanup(server.kill)
        server.start()
        self.assertIn(account, server.banner)
        self.assertIn(key, server.banner)
        me = sts_client(server.endpoint, key, secret).get_caller_identity()
        self.assertEqual((me["Arn"], me["Account"]), (f"arn:aws:iam::{account}:root", account))
        self.assert_client_error(
            lambda: sts_client(server.endpoint).get_caller_identity(),
            "InvalidClientTokenId", 403, MSG_INVALID_TOKEN,
        )
        server.assert_stops_cleanly(signal.SIGTERM)


# --- module setup ------------------------------------------------------------------------------


def setUpModule():
    global HERMETIC_DIR
    HERMETIC_DIR = tempfile.mkdtemp(prefix="iamlite-compat-home-")
    for f in ("config", "credentials"):
        open(os.path.join(HERMETIC_DIR, f), "w").close()
    # boto3 in this process must not see the user's AWS setup either.
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    os.environ["AWS_CONFIG_FILE"] = os.path.join(HERMETIC_DIR, "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(HERMETIC_DIR, "credentials")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def tearDownModule():
    _kill_leftovers()
    if HERMETIC_DIR:
        shutil.rmtree(HERMETIC_DIR, ignore_errors=True)


def _find_aws_cli():
    """The `aws` of this venv (awscli v1), not whatever is on PATH."""
    candidate = os.path.join(os.path.dirname(sys.executable), "aws")
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return [candidate]
    return [sys.executable, "-m", "awscli"]


def main():
    global IAMLITE_BIN, AWS_CMD
    argv = store.strip_option(sys.argv[1:])
    binary = os.environ.get("IAMLITE_BIN")
    if len(argv) >= 2 and argv[0] == "--bin":
        binary, argv = argv[1], argv[2:]
    if not binary:
        binary = os.path.join(ROOT_DIR, "target", "release", "iamlite")
    IAMLITE_BIN = os.path.abspath(binary)
    if not (os.path.isfile(IAMLITE_BIN) and os.access(IAMLITE_BIN, os.X_OK)):
        sys.exit(f"test_compat.py: no executable iamlite at {IAMLITE_BIN} (build it or pass --bin)")
    AWS_CMD = _find_aws_cli()
    import awscli
    import botocore

    try:  # recent awscli v1 releases carry their own botocore
        from awscli.botocore import __version__ as cli_botocore
    except ImportError:
        cli_botocore = botocore.__version__
    print(
        f"iamlite: {IAMLITE_BIN}\nawscli {awscli.__version__} (its botocore {cli_botocore}), "
        f"boto3 {boto3.__version__} (botocore {botocore.__version__}), python {sys.version.split()[0]}\n"
        f"{store.describe()}",
        file=sys.stderr,
    )
    unittest.main(argv=[sys.argv[0], *argv], verbosity=2)


if __name__ == "__main__":
    main()
