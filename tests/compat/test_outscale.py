#!/usr/bin/env python3
"""Compat suite, OUTSCALE side: osc-cli (PyPI osc-sdk 1.11.0) and osc-sdk-python (0.42.0) against
the iamlite release binary started with --flavor outscale, plus the aws CLI on the same store.

Run it through tests/compat/run.sh. Directly:

    target/compat-venv/bin/python tests/compat/test_outscale.py --bin target/release/iamlite [-k PATTERN]

The documentation's request samples (shared product pages: create, update and delete an EIM access
key) are run verbatim but for the ids and names, which come from the keys and users created here.
Each test class starts its own server with a private database and a private HOME holding
~/.osc/config.json and ~/.aws/credentials, and stops it with SIGTERM expecting exit code 0.
"""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import requests

import store  # this directory: --db FILE or, with --postgres URL, a database per server

IAMLITE_BIN = None
VENV_BIN = os.path.dirname(sys.executable)

ROOT_KEY = "AKIAIOSFODNN7EXAMPLE"
ROOT_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OSC_EMAIL = "me@example.com"
OSC_PASSWORD = "S3cret!pass"
REGION = "eu-west-2"
BANNER_RE = re.compile(r"^iamlite (\S+) listening on (http://127\.0\.0\.1:(\d+))$")
OSC_KEY_RE = r"^[A-Z0-9]{20}$"
TIMEOUT = 60


class Server:
    """One iamlite process in outscale flavour with its own database and HOME."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="iamlite-osc-")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(os.path.join(self.home, ".osc"))
        os.makedirs(os.path.join(self.home, ".aws"))
        self.log = open(os.path.join(self.dir, "iamlite.log"), "wb")
        self.proc = subprocess.Popen(
            [
                IAMLITE_BIN,
                "--listen", "127.0.0.1:0",
                *store.storage_args(os.path.join(self.dir, "iamlite.db")),
                "--flavor", "outscale",
                "--root-login", OSC_EMAIL,
                "--root-password", OSC_PASSWORD,
            ],
            stdout=subprocess.PIPE,
            stderr=self.log,
            env={k: v for k, v in os.environ.items() if not k.startswith("IAMLITE_")},
        )
        line = self.proc.stdout.readline().decode().strip()
        m = BANNER_RE.match(line)
        if not m:
            self.stop()
            raise AssertionError(f"unexpected banner {line!r}")
        self.endpoint = m.group(2)
        with open(os.path.join(self.home, ".osc", "config.json"), "w") as f:
            json.dump(
                {
                    "default": {
                        "access_key": ROOT_KEY,
                        "secret_key": ROOT_SECRET,
                        "region": REGION,
                        "endpoint": self.endpoint,
                        "https": False,
                    }
                },
                f,
            )
        with open(os.path.join(self.home, ".aws", "credentials"), "w") as f:
            f.write(
                f"[YOUR_PROFILE]\naws_access_key_id = {ROOT_KEY}\n"
                f"aws_secret_access_key = {ROOT_SECRET}\nregion = {REGION}\n"
            )

    def env(self, **extra):
        env = {
            "HOME": self.home,
            "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
            "OSC_EMAIL": OSC_EMAIL,
            "OSC_PASSWORD": OSC_PASSWORD,
            "LANG": "C.UTF-8",
        }
        env.update(extra)
        return env

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            code = self.proc.wait(timeout=30)
            assert code == 0, f"iamlite exited with {code}"
        self.log.close()
        with open(os.path.join(self.dir, "iamlite.log"), "rb") as f:
            log = f.read()
        shutil.rmtree(self.dir, ignore_errors=True)
        # Login/password calls were made, some refused: neither password may reach the log.
        assert b"credentials refused" in log or b"request" in log, "the log is empty"
        for secret in (OSC_PASSWORD, ROOT_SECRET):
            assert secret.encode() not in log, "a secret reached the log"


def shell(server, command, check=True, **env):
    """Runs a documentation sample through bash, as a user pastes it."""
    done = subprocess.run(
        ["bash", "-c", command],
        env=server.env(**env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{command}\n--> {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def osc_json(server, command):
    return json.loads(shell(server, command).stdout)


def osc_error(server, command):
    """The `Error --> status = S, code = C, ...` line osc-cli prints for a refused call."""
    done = shell(server, command, check=False)
    assert done.returncode != 0, f"{command} succeeded: {done.stdout}"
    m = re.search(r"Error --> status = (\d+), code = (\w+)", done.stderr)
    assert m, done.stderr
    return int(m.group(1)), m.group(2)


def gateway(server, **kw):
    from osc_sdk_python import Gateway

    os.environ.update(
        {
            "OSC_ACCESS_KEY": kw.pop("access_key", ROOT_KEY),
            "OSC_SECRET_KEY": kw.pop("secret_key", ROOT_SECRET),
            "OSC_REGION": REGION,
            "OSC_ENDPOINT_API": server.endpoint + "/api/v1",
        }
    )
    return Gateway(**kw)


def iso_in(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class DocumentationSamples(unittest.TestCase):
    """Every osc-cli and aws CLI sample of the product pages, verbatim."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_create_update_delete_samples(self):
        s = self.server
        osc_json(s, 'osc-cli api CreateUser --profile "default" --UserName "example-user"')
        # Creating an EIM access key (the root user's, then with login/password).
        created = osc_json(s, 'osc-cli api CreateAccessKey --profile "default" \\\n    --ExpirationDate "2063-04-05"')
        key = created["AccessKey"]
        self.assertRegex(key["AccessKeyId"], OSC_KEY_RE)
        self.assertEqual(len(key["SecretKey"]), 40)
        self.assertEqual(key["ExpirationDate"], "2063-04-05T00:00:00.000+0000")
        by_password = osc_json(
            s,
            'osc-cli api CreateAccessKey --profile "default" --authentication-method "password" '
            '--login "$OSC_EMAIL" --password "$OSC_PASSWORD" \\\n    --ExpirationDate "2063-04-05"',
        )
        self.assertEqual(by_password["AccessKey"]["State"], "ACTIVE")
        user_key = osc_json(
            s, 'osc-cli api CreateAccessKey --profile "default" --UserName "example-user"'
        )["AccessKey"]["AccessKeyId"]
        read = osc_json(s, """osc-cli api ReadAccessKeys --profile "default" --Filters '{"States": ["ACTIVE"]}'""")
        self.assertEqual(len(read["AccessKeys"]), 3)

        # Modifying an EIM access key: the four samples.
        kid = key["AccessKeyId"]
        updated = osc_json(
            s,
            f'osc-cli api UpdateAccessKey --profile "default" \\\n    --AccessKeyId "{kid}" \\\n'
            '    --State "ACTIVE" \\\n    --ExpirationDate "2063-04-05"',
        )
        self.assertEqual(updated["AccessKey"]["ExpirationDate"], "2063-04-05T00:00:00.000+0000")
        updated = osc_json(
            s,
            f'osc-cli api UpdateAccessKey --profile "default" \\\n    --AccessKeyId "{kid}" \\\n    --State "ACTIVE"',
        )
        self.assertNotIn("ExpirationDate", updated["AccessKey"], "no date: never expires")
        osc_json(
            s,
            f'osc-cli api UpdateAccessKey --profile "default" \\\n    --AccessKeyId "{user_key}" \\\n'
            '    --State "ACTIVE" \\\n    --UserName "example-user"',
        )
        updated = osc_json(
            s,
            'osc-cli api UpdateAccessKey --profile "default" --authentication-method "password" '
            f'--login "$OSC_EMAIL" --password "$OSC_PASSWORD" \\\n    --AccessKeyId "{user_key}" \\\n'
            '    --State "INACTIVE" \\\n    --UserName "example-user"',
        )
        self.assertEqual(updated["AccessKey"]["State"], "INACTIVE")

        # Deleting an EIM access key: the three samples.
        osc_json(s, f'osc-cli api DeleteAccessKey --profile "default" \\\n    --AccessKeyId "{kid}"')
        osc_json(
            s,
            f'osc-cli api DeleteAccessKey --profile "default" \\\n    --AccessKeyId "{user_key}" \\\n'
            '    --UserName "example-user"',
        )
        other = osc_json(
            s, 'osc-cli api CreateAccessKey --profile "default" --UserName "example-user"'
        )["AccessKey"]["AccessKeyId"]
        osc_json(
            s,
            f'osc-cli api UpdateAccessKey --profile "default" --AccessKeyId "{other}" '
            '--State "INACTIVE" --UserName "example-user"',
        )
        shell(
            s,
            'osc-cli api DeleteAccessKey --profile "default" --authentication-method "password" '
            f'--login "$OSC_EMAIL" --password "$OSC_PASSWORD" \\\n    --AccessKeyId "{other}" \\\n'
            '    --UserName "example-user"',
        )
        listed = osc_json(s, 'osc-cli api ReadAccessKeys --profile "default" --UserName "example-user"')
        self.assertEqual(listed["AccessKeys"], [])

    def test_aws_cli_samples_on_the_eim_endpoint(self):
        s = self.server
        osc_json(s, 'osc-cli api CreateUser --profile "default" --UserName "USER_NAME"')
        # The documented commands, with the emulator's endpoint in place of eim.eu-west-2.outscale.com.
        created = json.loads(
            shell(
                s,
                "aws iam create-access-key \\\n    --profile YOUR_PROFILE \\\n    --user-name USER_NAME \\\n"
                f"    --endpoint {s.endpoint}",
            ).stdout
        )["AccessKey"]
        self.assertRegex(created["AccessKeyId"], OSC_KEY_RE)
        kid = created["AccessKeyId"]
        shell(
            s,
            "aws iam update-access-key \\\n    --profile YOUR_PROFILE \\\n    --user-name USER_NAME \\\n"
            f"    --access-key-id {kid} \\\n    --status Inactive \\\n    --endpoint {s.endpoint}",
        )
        read = osc_json(s, 'osc-cli api ReadAccessKeys --profile "default" --UserName "USER_NAME"')
        self.assertEqual(read["AccessKeys"][0]["State"], "INACTIVE")
        shell(
            s,
            "aws iam delete-access-key \\\n    --profile YOUR_PROFILE \\\n    --user-name USER_NAME \\\n"
            f"    --access-key-id {kid} \\\n    --endpoint {s.endpoint}",
        )
        # osc-cli's own IAM service (scope `eim`, today's date as Version).
        listed = osc_json(s, 'osc-cli eim ListAccessKeys --profile "default"')
        members = listed["ListAccessKeysResponse"]["ListAccessKeysResult"]["AccessKeyMetadata"]["member"]
        members = members if isinstance(members, list) else [members]
        self.assertIn(ROOT_KEY, [m["AccessKeyId"] for m in members])

    def test_error_paths(self):
        s = self.server
        osc_json(s, 'osc-cli api CreateUser --profile "default" --UserName "quota-user"')
        for _ in range(10):
            osc_json(s, 'osc-cli api CreateAccessKey --profile "default" --UserName "quota-user"')
        self.assertEqual(
            osc_error(s, 'osc-cli api CreateAccessKey --profile "default" --UserName "quota-user"'),
            (400, "10005"),
        )
        self.assertEqual(
            osc_error(s, 'osc-cli api DeleteAccessKey --profile "default" --AccessKeyId "NOSUCHKEY00000000000"'),
            (400, "4000"),
        )
        active = osc_json(s, 'osc-cli api ReadAccessKeys --profile "default" --UserName "quota-user"')
        kid = active["AccessKeys"][0]["AccessKeyId"]
        self.assertEqual(
            osc_error(
                s,
                f'osc-cli api DeleteAccessKey --profile "default" --AccessKeyId "{kid}" --UserName "quota-user"',
            ),
            (400, "6003"),
        )
        self.assertEqual(
            osc_error(s, 'osc-cli api CreateAccessKey --profile "default" --ExpirationDate "not-a-date"'),
            (400, "4047"),
        )
        self.assertEqual(
            osc_error(s, 'osc-cli api CreateAccessKey --profile "default" --ExpirationDate "2001-01-01"'),
            (400, "4047"),
        )
        self.assertEqual(
            osc_error(
                s,
                'osc-cli api ReadAccessKeys --profile "default" --authentication-method "password" '
                '--login "$OSC_EMAIL" --password "wrong"',
            ),
            (401, "1"),
        )
        still = osc_json(s, 'osc-cli api ReadAccessKeys --profile "default" --UserName "quota-user"')
        self.assertEqual(len(still["AccessKeys"]), 10, "the refused calls changed nothing")


class PythonSdk(unittest.TestCase):
    """osc-sdk-python's Gateway, configured through OSC_* variables."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_gateway_calls_and_errors(self):
        gw = gateway(self.server)
        gw.CreateUser(UserName="sdk-user", UserEmail="sdk@example.com")
        key = gw.CreateAccessKey(UserName="sdk-user", ExpirationDate="2063-04-05", Tag="Group1")["AccessKey"]
        self.assertEqual(key["Tag"], "Group1")
        keys = gw.ReadAccessKeys(UserName="sdk-user", Filters={"AccessKeyIds": [key["AccessKeyId"]]})
        self.assertEqual([k["AccessKeyId"] for k in keys["AccessKeys"]], [key["AccessKeyId"]])
        updated = gw.UpdateAccessKey(
            UserName="sdk-user", AccessKeyId=key["AccessKeyId"], State="INACTIVE", ClearTag=True
        )["AccessKey"]
        self.assertEqual(updated["State"], "INACTIVE")
        self.assertNotIn("Tag", updated)
        users = gw.ReadUsers(Filters={"UserIds": [gw.ReadUsers()["Users"][0]["UserId"]]})["Users"]
        self.assertEqual(users[0]["UserEmail"], "sdk@example.com")
        with self.assertRaises(requests.exceptions.HTTPError) as caught:
            gw.DeleteUser(UserName="sdk-user")
        self.assertEqual(caught.exception.response.status_code, 409)
        gw.DeleteAccessKey(UserName="sdk-user", AccessKeyId=key["AccessKeyId"])
        gw.DeleteUser(UserName="sdk-user")
        # The SDK's login/password mode (standard base64) on an access-key call, and refused elsewhere.
        by_password = gateway(self.server, email=OSC_EMAIL, password=OSC_PASSWORD)
        self.assertGreaterEqual(len(by_password.ReadAccessKeys()["AccessKeys"]), 1)
        with self.assertRaises(requests.exceptions.HTTPError) as caught:
            by_password.ReadUsers()
        self.assertEqual(caught.exception.response.status_code, 401)
        self.assertEqual(caught.exception.response.json()["Errors"][0]["Code"], "9")
        wrong = gateway(self.server, secret_key=ROOT_SECRET[:-1] + "X")
        with self.assertRaises(requests.exceptions.HTTPError) as caught:
            wrong.ReadAccessKeys()
        self.assertEqual(caught.exception.response.status_code, 401)

    def test_expiry_is_seen_by_both_faces_and_both_sdks(self):
        s = self.server
        # The SDK reads its whole API spec on first use (seconds): both gateways are warmed up
        # before the short-lived key exists.
        gw = gateway(s)
        mine = gateway(s)
        gw.ReadAccessKeys()
        mine.ReadAccessKeys()
        lifetime = 6
        expires_at = time.monotonic() + lifetime
        key = gw.CreateAccessKey(ExpirationDate=iso_in(lifetime))["AccessKey"]
        kid, secret = key["AccessKeyId"], key["SecretKey"]
        mine.update_profile(access_key=kid, secret_key=secret)
        mine.ReadAccessKeys()
        aws_env = {"AWS_ACCESS_KEY_ID": kid, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": REGION}
        shell(s, f"aws sts get-caller-identity --endpoint-url {s.endpoint}", **aws_env)
        self.assertLess(time.monotonic(), expires_at, "the key was used before it expired")
        time.sleep(max(0.0, expires_at - time.monotonic()) + 1)
        with self.assertRaises(requests.exceptions.HTTPError) as caught:
            mine.ReadAccessKeys()
        self.assertEqual(caught.exception.response.status_code, 401)
        done = shell(s, f"aws sts get-caller-identity --endpoint-url {s.endpoint}", check=False, **aws_env)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("InvalidClientTokenId", done.stderr)
        listed = json.loads(
            shell(
                s,
                f"aws iam list-access-keys --endpoint-url {s.endpoint}",
                AWS_ACCESS_KEY_ID=ROOT_KEY,
                AWS_SECRET_ACCESS_KEY=ROOT_SECRET,
                AWS_DEFAULT_REGION=REGION,
            ).stdout
        )
        status = {k["AccessKeyId"]: k["Status"] for k in listed["AccessKeyMetadata"]}
        self.assertEqual(status[kid], "Expired")
        # osc-cli sees it too, and removes it.
        gw.DeleteAccessKey(AccessKeyId=kid)


def main():
    global IAMLITE_BIN
    args = store.strip_option(sys.argv[1:])
    if "--bin" in args:
        i = args.index("--bin")
        IAMLITE_BIN = os.path.abspath(args[i + 1])
        del args[i : i + 2]
    if not IAMLITE_BIN or not os.access(IAMLITE_BIN, os.X_OK):
        sys.exit("usage: test_outscale.py --bin PATH [unittest args]")
    for tool in ("osc-cli", "aws"):
        if not shutil.which(tool, path=VENV_BIN):
            sys.exit(f"{tool} is not installed next to {sys.executable}")
    print(f"iamlite: {IAMLITE_BIN}\n{store.describe()}", flush=True)
    unittest.main(argv=[sys.argv[0], *args], verbosity=2)


if __name__ == "__main__":
    main()
