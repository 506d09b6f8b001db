"""The iamlite wheel as a user meets it: the binary on PATH, `python -m iamlite`, `iamlite.Server`,
and the pytest plugin's fixtures, reset isolation, options, xdist workers, failure reports and
clean-up, each run as a real pytest session through pytester."""

import json
import os
import subprocess
import sys
import time

import pytest

import iamlite

SEED = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "seed.toml")

EXAMPLE = '''
import pytest
from botocore.exceptions import ClientError

def test_rotation(iam_client, sts_client_for):
    iam_client.create_user(UserName="app")
    key = iam_client.create_access_key(UserName="app")["AccessKey"]
    assert sts_client_for(key).get_caller_identity()["Arn"].endswith(":user/app")
    iam_client.update_access_key(UserName="app", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError, match="InvalidClientTokenId"):
        sts_client_for(key).get_caller_identity()
'''


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_binary_is_on_path_and_runs_as_a_module():
    binary = iamlite.find_binary()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"iamlite {iamlite.__version__}"
    via_module = subprocess.run(
        [sys.executable, "-m", "iamlite", "--help"], capture_output=True, text=True, check=True
    )
    assert "--flavor" in via_module.stdout


def test_the_issue_example_passes(pytester):
    pytester.makepyfile(test_example=EXAMPLE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_state_is_reset_between_tests_unless_kept(pytester):
    pytester.makepyfile(
        test_isolation='''
import pytest

def test_a_makes_a_user(iam_client):
    iam_client.create_user(UserName="leftover")

def test_b_starts_clean(iam_client):
    assert iam_client.list_users()["Users"] == []
    iam_client.create_user(UserName="kept")

@pytest.mark.iamlite_keep_state
def test_c_keeps_what_b_made(iam_client):
    assert [u["UserName"] for u in iam_client.list_users()["Users"]] == ["kept"]
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_options_reach_the_server(pytester):
    pytester.makepyfile(
        test_options='''
def test_seeded_and_outscale(iamlite, iam_client):
    names = {u["UserName"] for u in iamlite.client("iam", ("AKIAQYLPMN5HHHFPZAM2", "1dgwBBwMvF2nG2mOGzm6rI4pb8GsGdzUuB0O7aFR")).list_users()["Users"]}
    assert "ci-deployer" in names
    key = iam_client.create_access_key()["AccessKey"]
    assert not key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
'''
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--iamlite-flavor", "outscale",
        "--iamlite-seed-file", os.path.abspath(SEED), "--iamlite-bin", iamlite.find_binary(),
    )
    result.assert_outcomes(passed=1)


def test_xdist_workers_each_get_their_own_server(pytester, tmp_path):
    pytester.makepyfile(
        test_parallel=f'''
import os, pytest

@pytest.mark.parametrize("n", range(8))
def test_worker(iamlite, iam_client, n):
    iam_client.create_user(UserName=f"user{{n}}")
    assert len(iam_client.list_users()["Users"]) == 1, "reset before each test, per worker"
    worker = os.environ["PYTEST_XDIST_WORKER"]
    with open(os.path.join({str(tmp_path)!r}, worker), "w") as f:
        f.write(iamlite.endpoint)
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=8)
    endpoints = {f.name: f.read_text() for f in tmp_path.iterdir()}
    assert sorted(endpoints) == ["gw0", "gw1"]
    assert endpoints["gw0"] != endpoints["gw1"], "each worker its own server"


def test_a_failing_test_carries_the_server_log_and_no_process_is_left(pytester, tmp_path):
    pid_file = tmp_path / "pid"
    pytester.makepyfile(
        test_failing=f'''
def test_fails(iamlite, iam_client):
    open({str(pid_file)!r}, "w").write(str(iamlite.pid))
    iam_client.create_user(UserName="seen-in-the-log")
    assert False, "on purpose"
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*iamlite server log*", "*action=*CreateUser*"])
    pid = int(pid_file.read_text())
    assert not pid_alive(pid), f"iamlite {pid} outlived the pytest session"


def test_server_outside_pytest_resets_and_moves_the_clock(tmp_path):
    with iamlite.Server(id_seed=7, account_id="111122223333") as srv:
        assert srv.account_id == "111122223333"
        assert srv.root_credentials[0] == "AKIAIOSFODNN7EXAMPLE"
        iam = srv.client("iam")
        iam.create_user(UserName="temp")
        srv.reset()
        assert iam.list_users()["Users"] == []
        view = srv.advance_clock("13h")
        assert view["offset_seconds"] == 46800.0
        assert srv.health()["status"] == "ok"
        pid = srv.pid
    assert not pid_alive(pid)
    assert "shutting down" in srv.log()


def test_startup_cost(capsys):
    """Not a speed test: it reports what a session and a test pay, for the README."""
    started = time.perf_counter()
    srv = iamlite.Server().start()
    session = time.perf_counter() - started
    try:
        started = time.perf_counter()
        for _ in range(20):
            srv.reset()
        per_test = (time.perf_counter() - started) / 20
    finally:
        srv.stop()
    with capsys.disabled():
        print(json.dumps({"server_start_s": round(session, 4), "reset_per_test_s": round(per_test, 4)}))


def test_the_server_names_its_web_console():
    import urllib.request

    with iamlite.Server(in_memory=True) as srv:
        assert srv.console_url == f"{srv.endpoint}/console"
        with urllib.request.urlopen(f"{srv.console_url}/signin", timeout=10) as page:
            assert page.status == 200
            assert b"<h1>Sign in to iamlite</h1>" in page.read()
    with iamlite.Server(in_memory=True, extra_args=["--no-console"]) as srv:
        assert srv.console_url == ""
