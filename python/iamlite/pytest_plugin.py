"""The iamlite pytest plugin: one server per test session (per xdist worker), reset before each test.

Fixtures: `iamlite` (the `Server`), `iam_client`, `sts_client` (root credentials),
`iam_client_for(key)`, `sts_client_for(key)`, and `osc_gateway` when osc-sdk-python is installed.
Mark a test `@pytest.mark.iamlite_keep_state` to skip the reset before it. A failing test's report
carries the server's log of that test.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import pytest

from . import Server

KEEP_STATE = "iamlite_keep_state"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("iamlite")
    group.addoption("--iamlite-flavor", default=None, help="aws (default) or outscale")
    group.addoption("--iamlite-seed-file", default=None, help="a TOML seed file to start with")
    group.addoption("--iamlite-bin", default=None, help="an iamlite binary to use (a local build)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{KEEP_STATE}: do not reset iamlite's state before this test"
    )


@pytest.fixture(scope="session")
def _iamlite_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    opts = request.config.option
    server = Server(
        bin=opts.iamlite_bin,
        flavor=opts.iamlite_flavor,
        seed_file=opts.iamlite_seed_file,
    )
    server.start()
    request.config._iamlite_server = server  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def iamlite(_iamlite_server: Server, request: pytest.FixtureRequest) -> Server:
    """The session's server, reset to its start-up state unless the test is marked to keep it."""
    if request.node.get_closest_marker(KEEP_STATE) is None:
        _iamlite_server.reset()
    # Where this test's part of the log starts, for its report if it fails.
    request.node._iamlite_log_start = len(_iamlite_server.log())
    return _iamlite_server


@pytest.fixture
def iam_client(iamlite: Server) -> Any:
    return iamlite.client("iam")


@pytest.fixture
def sts_client(iamlite: Server) -> Any:
    return iamlite.client("sts")


@pytest.fixture
def iam_client_for(iamlite: Server) -> Callable[[Any], Any]:
    """`iam_client_for(key)`: an IAM client signed with a key dict or an (id, secret) tuple."""
    return lambda key: iamlite.client("iam", key)


@pytest.fixture
def sts_client_for(iamlite: Server) -> Callable[[Any], Any]:
    """`sts_client_for(key)`: an STS client signed with a key dict or an (id, secret) tuple."""
    return lambda key: iamlite.client("sts", key)


@pytest.fixture
def osc_gateway(iamlite: Server) -> Any:
    """An osc-sdk-python Gateway of this server, signed with the root key (needs osc-sdk-python)."""
    osc = pytest.importorskip("osc_sdk_python")
    from osc_sdk_python.credentials import Endpoint

    key_id, secret = iamlite.root_credentials
    return osc.Gateway(
        access_key=key_id,
        secret_key=secret,
        region="eu-west-2",
        endpoints=Endpoint(api=f"{iamlite.endpoint}/api/v1"),
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or "iamlite" not in getattr(item, "fixturenames", ()):
        return
    server: Optional[Server] = getattr(item.config, "_iamlite_server", None)
    if server is None:
        return
    start = getattr(item, "_iamlite_log_start", 0)
    report.sections.append(("iamlite server log", server.log()[start:]))
