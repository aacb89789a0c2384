"""heraldd started as root gives root up for [server] user (by default herald) once its
ports, keys and store are open: the process's ids are that user's, and the mail it delivers
belongs to it; only user = "root" keeps root, with a warning. An unknown user, or a data_dir
that user cannot write, stops the start with a line that says what to fix.

These tests need root (to start heraldd as root and to become another user) and the system
user `herald` that scripts/bootstrap makes. Their directories are made below /tmp and not
below pytest's tmp_path, whose /tmp/pytest-of-root is mode 0700: the herald user could not
reach its own data_dir there (which heraldd would rightly refuse)."""

import os
import pathlib
import pwd
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from bounded_wait import seconds, wait_until
from herald_daemon import BIN_DIR, QUEUED_AS, HeraldDaemon

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="heraldd gives up root only when started as root; run as root")


def herald_account():
    try:
        return pwd.getpwnam("herald")
    except KeyError:
        pytest.skip("no system user 'herald' (scripts/bootstrap makes it)")


@pytest.fixture
def work_dir(request):
    """A directory every user can pass through, removed after a passing test."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="herald-privileges-", dir="/tmp"))
    path.chmod(0o755)
    daemons = []
    request.node.herald_daemons = daemons
    yield path, daemons
    for daemon in daemons:
        assert daemon.stop() in (None, 0), f"heraldd did not stop cleanly: {daemon.log}"
    if getattr(request.node, "herald_test_passed", False):
        shutil.rmtree(path, ignore_errors=True)


def status_ids(pid, field):
    """The real, effective, saved and filesystem ids of /proc/PID/status's Uid: or Gid: line."""
    text = pathlib.Path(f"/proc/{pid}/status").read_text()
    [line] = re.findall(rf"^{field}:\s+(.*)$", text, re.MULTILINE)
    return [int(v) for v in line.split()]


def start_failure(daemon):
    """Runs heraldd in the foreground until it gives up; returns (exit code, its output)."""
    result = subprocess.run([str(BIN_DIR / "heraldd"), "--config", str(daemon.config)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=seconds(30))
    return result.returncode, result.stdout + result.stderr


def test_heraldd_runs_as_the_configured_user_and_delivers_as_it(work_dir, swaks):
    account = herald_account()
    path, daemons = work_dir
    daemon = HeraldDaemon(path, server={"user": "herald"})
    daemons.append(daemon)
    daemon.start()  # data_dir does not exist yet: heraldd makes it, for herald

    pid = daemon.process.pid
    assert status_ids(pid, "Uid") == [account.pw_uid] * 4
    assert status_ids(pid, "Gid") == [account.pw_gid] * 4
    groups = re.search(r"^Groups:(.*)$", pathlib.Path(f"/proc/{pid}/status").read_text(),
                       re.MULTILINE).group(1).split()
    assert sorted(int(g) for g in groups) == sorted(set(os.getgrouplist("herald",
                                                                       account.pw_gid)))
    # Every thread, not only the main one: those started before the drop (outbound, sender
    # checks) gave root up with it.
    threads = sorted(pathlib.Path(f"/proc/{pid}/task").iterdir())
    assert len(threads) > 1
    for thread in threads:
        assert status_ids(f"{pid}/task/{thread.name}", "Uid") == [account.pw_uid] * 4, thread
        assert status_ids(f"{pid}/task/{thread.name}", "Gid") == [account.pw_gid] * 4, thread
    assert f"running as user=herald uid={account.pw_uid}" in daemon.log_text()

    transcript = swaks(daemon, "--from", "sender@remote.test", "--to", "alice@example.test",
                       "--header", "Subject: delivered by herald, not by root")
    assert QUEUED_AS.search(transcript), transcript
    [message] = daemon.wait_for_messages("alice@example.test", 1)
    assert message.stat().st_uid == account.pw_uid
    maildir = daemon.maildir("alice@example.test")
    for directory in (maildir, maildir / "new", daemon.data_dir / "store", daemon.data_dir):
        assert directory.stat().st_uid == account.pw_uid, directory
    assert (daemon.data_dir / "control.sock").stat().st_uid == account.pw_uid
    # The CLI, run by root, still reads the store.
    assert daemon.queue_list("--all")

    # A second start finds everything the first made already the user's.
    assert daemon.stop() == 0
    daemon.start()
    assert status_ids(daemon.process.pid, "Uid") == [account.pw_uid] * 4
    swaks(daemon, "--from", "sender@remote.test", "--to", "alice@example.test")
    daemon.wait_for_messages("alice@example.test", 2)

    # A reload after the drop reads the file and the generated TLS pair as herald.
    daemon.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded " in daemon.log_text() or "reload refused" in daemon.log_text(),
               seconds(20), "heraldd to reload")
    assert "reload refused" not in daemon.log_text(), daemon.log_text()


def test_started_as_root_without_a_user_it_runs_as_herald_by_default(work_dir, swaks):
    account = herald_account()
    path, daemons = work_dir
    daemon = HeraldDaemon(path)  # no [server] user
    daemons.append(daemon)
    daemon.start()
    assert status_ids(daemon.process.pid, "Uid") == [account.pw_uid] * 4
    assert status_ids(daemon.process.pid, "Gid") == [account.pw_gid] * 4
    assert f"running as user=herald uid={account.pw_uid}" in daemon.log_text()
    assert "heraldd runs as root" not in daemon.log_text()
    swaks(daemon, "--from", "sender@remote.test", "--to", "alice@example.test")
    [message] = daemon.wait_for_messages("alice@example.test", 1)
    assert message.stat().st_uid == account.pw_uid
    assert daemon.data_dir.stat().st_uid == account.pw_uid


def test_user_root_keeps_root_and_warns(work_dir, swaks):
    path, daemons = work_dir
    daemon = HeraldDaemon(path, server={"user": "root"})
    daemons.append(daemon)
    daemon.start()
    assert status_ids(daemon.process.pid, "Uid") == [0] * 4
    [warning] = [l for l in daemon.log_text().splitlines() if "heraldd runs as root" in l]
    assert 'as [server] user = "root" asks' in warning, warning
    swaks(daemon, "--from", "sender@remote.test", "--to", "alice@example.test")
    [message] = daemon.wait_for_messages("alice@example.test", 1)
    assert message.stat().st_uid == 0


def test_started_as_the_user_already_it_runs_the_same(work_dir, swaks):
    account = herald_account()
    path, daemons = work_dir
    daemon = HeraldDaemon(path, server={"user": "herald"})
    daemons.append(daemon)
    daemon.data_dir.mkdir()
    os.chown(daemon.data_dir, account.pw_uid, account.pw_gid)
    # As a service manager would start it with User=herald (the ports here need no
    # CAP_NET_BIND_SERVICE: they are above 1024).
    daemon.command_prefix = ["setpriv", f"--reuid={account.pw_uid}",
                             f"--regid={account.pw_gid}", "--init-groups", "--"]
    daemon.start()
    assert status_ids(daemon.process.pid, "Uid") == [account.pw_uid] * 4
    swaks(daemon, "--from", "sender@remote.test", "--to", "alice@example.test")
    [message] = daemon.wait_for_messages("alice@example.test", 1)
    assert message.stat().st_uid == account.pw_uid


def test_an_unknown_user_stops_the_start_and_is_named(work_dir):
    path, _ = work_dir
    daemon = HeraldDaemon(path, server={"user": "no-such-user"})
    code, output = start_failure(daemon)
    assert code != 0
    [line] = [l for l in output.splitlines() if "no-such-user" in l]
    assert "not a user on this system" in line, output


def test_a_data_dir_of_roots_that_herald_filled_becomes_the_users_at_the_first_start_as_it(
        work_dir, swaks):
    """An upgrade from a herald that ran as root: the store, the Maildirs and the TLS pair it
    left are root's. Started as herald, heraldd makes data_dir and everything in it herald's
    once, and carries on with what was there."""
    account = herald_account()
    path, daemons = work_dir
    as_root = HeraldDaemon(path, server={"user": "root"})
    as_root.start()
    swaks(as_root, "--from", "sender@remote.test", "--to", "alice@example.test")
    [first] = as_root.wait_for_messages("alice@example.test", 1)
    assert first.stat().st_uid == 0
    assert as_root.stop() == 0

    daemon = HeraldDaemon(path, server={"user": "herald"})
    daemons.append(daemon)
    daemon.start()
    assert status_ids(daemon.process.pid, "Uid") == [account.pw_uid] * 4
    assert f"data_dir {daemon.data_dir} and the" in daemon.log_text()
    for entry in [daemon.data_dir, *daemon.data_dir.rglob("*")]:
        if entry.name == "control.sock":
            continue  # made anew by this start
        assert entry.lstat().st_uid == account.pw_uid, entry
    swaks(daemon, "--from", "sender@remote.test", "--to", "alice@example.test")
    assert len(daemon.wait_for_messages("alice@example.test", 2)) == 2
    assert len(daemon.queue_list("--all")) == 2


def test_a_data_dir_holding_what_is_not_heralds_is_left_alone_and_named(work_dir):
    herald_account()
    path, _ = work_dir
    daemon = HeraldDaemon(path, server={"user": "herald"})
    daemon.data_dir.mkdir(mode=0o755)  # root's, and with something herald did not put there
    (daemon.data_dir / "notes.txt").write_text("the operator's\n")
    code, output = start_failure(daemon)
    assert (daemon.data_dir / "notes.txt").stat().st_uid == 0, "herald chowned a stranger's file"
    assert code != 0
    assert f"{daemon.data_dir} is not writable by user herald" in output, output
    assert f"run: chown -R herald:herald {daemon.data_dir}" in output, output


def test_a_mailbox_root_the_user_cannot_write_stops_the_start_naming_it(work_dir):
    account = herald_account()
    path, _ = work_dir
    daemon = HeraldDaemon(path, server={"user": "herald"})
    daemon.data_dir.mkdir()
    os.chown(daemon.data_dir, account.pw_uid, account.pw_gid)
    (daemon.data_dir / "mail").mkdir(mode=0o755)  # root's
    code, output = start_failure(daemon)
    assert code != 0
    assert f"{daemon.data_dir / 'mail'} is not writable by user herald" in output, output
    assert f"run: chown -R herald:herald {daemon.data_dir}" in output, output
