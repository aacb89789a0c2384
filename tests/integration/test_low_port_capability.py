"""Started as its own user with CAP_NET_BIND_SERVICE (as a service manager's `User=herald`
with `AmbientCapabilities=` would, or a file capability as here), heraldd binds a port below
1024 and works the same as when it gives root up itself: it takes mail and delivers it to a
Maildir, it is not root, and it holds no capability but that one.

Needs root (to give a copy of heraldd the file capability and to start it as herald), the
system user `herald` that scripts/bootstrap makes, and setcap (libcap2-bin). The copy lives in
a directory of its own below /tmp (or /var/tmp when /tmp's file system keeps no security
extended attributes, where file capabilities are stored)."""

import os
import pathlib
import pwd
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from herald_daemon import BIN_DIR, QUEUED_AS, HeraldDaemon
from bounded_wait import seconds

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="giving heraldd a file capability and starting it as herald need root")

CAP_NET_BIND_SERVICE = 10  # linux/capability.h
# Loopback addresses and low ports nothing else here listens on, the first one free is used.
CANDIDATES = [("127.0.0.63", 587), ("127.0.0.64", 25), ("127.0.0.65", 465)]


def herald_account():
    try:
        return pwd.getpwnam("herald")
    except KeyError:
        pytest.skip("no system user 'herald' (scripts/bootstrap makes it)")


def free_low_port():
    for host, port in CANDIDATES:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
                return host, port
            except OSError:
                continue
    pytest.skip(f"none of {CANDIDATES} is free")


def capable_copy_of_heraldd(base_dirs):
    """A copy of heraldd with cap_net_bind_service=+ep in a fresh directory, trying each base
    directory in turn; returns (work directory, copy). Skips when no file system takes it."""
    if shutil.which("setcap") is None:
        pytest.skip("setcap not installed (libcap2-bin, scripts/bootstrap)")
    reasons = []
    for base in base_dirs:
        work = pathlib.Path(tempfile.mkdtemp(prefix="herald-capability-", dir=base))
        work.chmod(0o755)
        copy = work / "heraldd"
        shutil.copy2(BIN_DIR / "heraldd", copy)
        copy.chmod(0o755)
        result = subprocess.run(["setcap", "cap_net_bind_service=+ep", str(copy)],
                                capture_output=True, text=True)
        if result.returncode == 0:
            return work, copy
        reasons.append(f"{base}: {result.stderr.strip()}")
        shutil.rmtree(work, ignore_errors=True)
    pytest.skip("setcap failed on every file system tried: " + "; ".join(reasons))


def status_field(pid, field):
    text = pathlib.Path(f"/proc/{pid}/status").read_text()
    [value] = re.findall(rf"^{field}:\s+(.*)$", text, re.MULTILINE)
    return value


@pytest.fixture
def capable_herald(request):
    """A HeraldDaemon (not started) whose heraldd is the capable copy, listening on a free
    port below 1024, to be started as herald; stopped, and removed after a passing test."""
    account = herald_account()
    host, port = free_low_port()
    work, copy = capable_copy_of_heraldd(["/tmp", "/var/tmp"])
    daemon = HeraldDaemon(work, host=host, port=port)
    daemon.binary = copy
    daemon.data_dir.mkdir()
    os.chown(daemon.data_dir, account.pw_uid, account.pw_gid)
    daemon.command_prefix = ["setpriv", f"--reuid={account.pw_uid}",
                             f"--regid={account.pw_gid}", "--init-groups", "--"]
    request.node.herald_daemons = [daemon]
    yield daemon, account
    assert daemon.stop() in (None, 0), f"heraldd did not stop cleanly: {daemon.log}"
    if getattr(request.node, "herald_test_passed", False):
        shutil.rmtree(work, ignore_errors=True)


def test_started_as_herald_with_cap_net_bind_service_it_takes_mail_on_a_low_port(
        capable_herald):
    daemon, account = capable_herald
    daemon.start()
    pid = daemon.process.pid

    uids = [int(v) for v in status_field(pid, "Uid").split()]
    assert uids == [account.pw_uid] * 4, uids
    assert f"running as uid={account.pw_uid} gid={account.pw_gid}, as started" in \
        daemon.log_text()
    # The one capability it was given, and no other, in what it may use and may regain.
    for field in ("CapEff", "CapPrm"):
        assert int(status_field(pid, field), 16) == 1 << CAP_NET_BIND_SERVICE, field
    assert int(status_field(pid, "CapAmb"), 16) == 0

    result = subprocess.run(
        ["swaks", "--server", daemon.host, "--port", str(daemon.port), "--timeout",
         str(int(seconds(20))), "--from", "sender@remote.test", "--to", "alice@example.test",
         "--header", "Subject: on a low port, without root"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds(60))
    assert result.returncode == 0, result.stdout
    assert QUEUED_AS.search(result.stdout), result.stdout
    [message] = daemon.wait_for_messages("alice@example.test", 1)
    assert message.stat().st_uid == account.pw_uid
    assert b"Subject: on a low port, without root" in message.read_bytes()
