"""Fixtures for the browser suite: iamlite release binaries on free loopback ports, Debian's
chromium driven by playwright (one browser per run, one fresh context per test), boto3 clients,
and screenshots under target/console-screenshots/."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request

import boto3
import pytest
from botocore.config import Config
from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOTS = os.path.join(ROOT, "target", "console-screenshots")
ROOT_KEY = "AKIAIOSFODNN7EXAMPLE"
ROOT_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BANNER = re.compile(r"^iamlite \S+ listening on (http://127\.0\.0\.1:\d+)$")


class Iamlite:
    """One iamlite process with its own state directory."""

    def __init__(self, *args):
        binary = os.environ.get("IAMLITE_BIN")
        if not binary or not os.access(binary, os.X_OK):
            raise RuntimeError("IAMLITE_BIN must name the iamlite binary (tests/console/run.sh sets it)")
        self.dir = tempfile.mkdtemp(prefix="iamlite-console-")
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--db", os.path.join(self.dir, "state.db"), *args],
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        line = self.proc.stdout.readline().decode().strip()
        match = BANNER.match(line)
        if not match:
            self.stop()
            raise RuntimeError(f"unexpected banner: {line!r}")
        self.endpoint = match.group(1)
        self.console = f"{self.endpoint}/console"

    def iam(self, key=ROOT_KEY, secret=ROOT_SECRET):
        return boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}),
        )

    def advance_clock(self, by):
        request = urllib.request.Request(
            f"{self.endpoint}/_iamlite/clock",
            data=json.dumps({"advance": by}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
            assert code == 0, f"iamlite exited with {code}"
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def server():
    s = Iamlite()
    yield s
    s.stop()


@pytest.fixture
def make_server():
    started = []

    def make(*args):
        s = Iamlite(*args)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def browser():
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not executable:
        raise RuntimeError("no chromium: tests/console/run.sh installs Debian's")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable)
        yield b
        b.close()


@pytest.fixture
def context(browser):
    """A fresh cookie jar per test, with downloads and the clipboard allowed."""
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 860})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def shot():
    os.makedirs(SHOTS, exist_ok=True)

    def save(page, name):
        path = os.path.join(SHOTS, f"{name}.png")
        page.screenshot(path=path, full_page=True)
        return path

    return save
