"""Fixtures of the end-to-end tests: a heraldd per test on a free loopback port, with its own
data directory, stopped by SIGTERM afterwards (a clean exit 0 is part of every test), and
its log attached to the report of a test that fails (whose directory is kept; a passing
test's is removed).

HERALD_BIN_DIR names the directory with heraldd and herald (default: build/bin of this
checkout); HERALD_SANITIZE=1 (the ASan build) stretches every time limit.
"""

import shutil
import subprocess

import pytest

from herald_daemon import BIN_DIR, HeraldDaemon
from bounded_wait import seconds
from dns_zone import NsdServer
from smtp_peer import SmtpPeer


def pytest_report_header(config):
    return f"herald binaries: {BIN_DIR}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.herald_test_passed = report.passed
    if report.failed:
        for daemon in getattr(item, "herald_daemons", []):
            report.sections.append((f"heraldd log {daemon.log}", daemon.log_text()[-30000:]))


@pytest.fixture
def start_herald(request, tmp_path):
    """start_herald(limits={...}, queue={...}, name="herald", **options) starts a daemon and
    returns its HeraldDaemon. Limits and queue settings are [limits] / [queue] keys of the
    config; options are HeraldDaemon's (submission=True, password_hashes={...})."""
    for binary in ("heraldd", "herald"):
        assert (BIN_DIR / binary).exists(), f"{BIN_DIR / binary} not built (HERALD_BIN_DIR?)"
    daemons = []
    request.node.herald_daemons = daemons

    def start(limits=None, queue=None, name="herald", **options):
        work = tmp_path / name
        work.mkdir()
        daemon = HeraldDaemon(work, limits, queue, **options)
        daemons.append(daemon)
        return daemon.start()

    yield start
    for daemon in daemons:
        daemon.stop()
    unclean = {str(d.work): d.exit_codes for d in daemons if any(c != 0 for c in d.exit_codes)}
    assert not unclean, f"heraldd did not exit with 0 on SIGTERM: {unclean}"
    if getattr(request.node, "herald_test_passed", False):
        # Mailboxes of a load test run to hundreds of MB; a failed test's stay for a look.
        for daemon in daemons:
            shutil.rmtree(daemon.work, ignore_errors=True)


@pytest.fixture
def herald(start_herald):
    """A daemon with the default limits."""
    return start_herald()


def run_swaks(daemon, *args, expect_success=True):
    """Runs swaks against the daemon and returns its transcript (stdout)."""
    result = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(daemon.port), "--timeout",
         str(int(seconds(20))), *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds(60))
    if expect_success:
        assert result.returncode == 0, f"swaks failed ({result.returncode}):\n{result.stdout}"
    return result.stdout


@pytest.fixture
def swaks():
    return run_swaks


@pytest.fixture
def start_nsd(request, tmp_path):
    """start_nsd([Zone, ...]) starts nsd on a free loopback port serving the zones (see
    dns_zone.py) and returns its NsdServer; stopped after the test, its log shown on failure."""
    servers = []

    def start(zones):
        server = NsdServer(tmp_path / f"nsd{len(servers)}", zones)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def start_peer():
    """start_peer(host, port=None, **options) starts a scripted receiving MTA (smtp_peer.py)
    on 127.0.0.x:port and returns its SmtpPeer; stopped after the test."""
    peers = []

    def start(host, port=None, **options):
        peer = SmtpPeer(host, port, **options)
        peers.append(peer)
        return peer.start()

    yield start
    for peer in peers:
        peer.stop()


@pytest.fixture(scope="session")
def alice_hash():
    """alice's password hash for relay_support.PASSWORD, made by `herald hash-password`."""
    from relay_support import PASSWORD
    from test_submission import hash_password
    code, hash_ = hash_password(PASSWORD)
    assert code == 0, hash_
    return hash_
