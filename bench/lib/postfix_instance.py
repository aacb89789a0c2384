"""A private Postfix 3.7 instance on a loopback port: the incumbent herald is compared with,
and a real receiving MTA for herald's outbound tests. It either accepts mail for alice@DOMAIN
(example.test unless told otherwise) and delivers it with virtual(8) into a Maildir
(smtp-accept, tests/integration/test_relay_to_postfix.py), or, given `relay_to`, relays mail for sink.test from mynetworks to that one
next hop with smtp(8) (smtp-relay); `routes` adds more relay domains and their next hops the
same way (relay-tarpit). `extra_cf` is appended to main.cf (each benchmark documents its own).

Everything lives under one work directory (configuration, queue, data, mailboxes, log);
the system's /etc/postfix is only read (master.cf.proto as the template for master.cf).
As root, `postfix -c DIR` needs no alternate_config_directories entry in the system
main.cf (Postfix checks that list only for unprivileged callers), so that file is not
touched either. Nothing can leave loopback: the only destination is the virtual domain,
or the relay next hop on loopback, and every other transport is error(8).
"""

import os
import pathlib
import pwd
import subprocess
import time

from greeting import wait_for_greeting
from process_stats import process_tree

POSTFIX = "/usr/sbin/postfix"
MASTER_CF_TEMPLATE = "/etc/postfix/master.cf.proto"
# virtual(8) refuses to deliver as root (virtual_minimum_uid >= 1): mailboxes belong to nobody.
MAILBOX_UID = 65534
MAILBOX_GID = 65534


def _main_cf(work, routes, domain, extra_cf):
    return (_common_cf(work) + (_relay_cf(routes) if routes else _virtual_cf(work, domain))
            + extra_cf)


def _relay_cf(routes):
    """Mail from mynetworks for each routed domain goes to its host:port and nowhere else."""
    entries = []
    for domain, to in routes.items():
        host, port = to.rsplit(":", 1)
        entries.append(f"{domain}=smtp:[{host}]:{port}")
    return f"""\
relay_domains = {", ".join(routes)}
transport_maps = inline:{{ {", ".join(entries)} }}
default_transport = error:the benchmark instance relays only to its routed domains
relay_transport = error:the benchmark instance relays only to its routed domains
"""


def _virtual_cf(work, domain):
    return f"""\
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {work}/mail
virtual_mailbox_maps = inline:{{ alice@{domain}={domain}/alice/Maildir/ }}
virtual_uid_maps = static:{MAILBOX_UID}
virtual_gid_maps = static:{MAILBOX_GID}
default_transport = error:the benchmark instance delivers nothing remote
relay_transport = error:the benchmark instance delivers nothing remote
"""


def _common_cf(work):
    return f"""\
compatibility_level = 3.6
queue_directory = {work}/queue
data_directory = {work}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = bench-postfix.test
mydomain = bench.test
myorigin = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
alias_maps =
alias_database =
smtp_dns_support_level = disabled
default_process_limit = 200
maillog_file_prefixes = {work}
maillog_file = {work}/maillog
"""


def _master_cf(port):
    """The packaged master.cf with chroot off, and smtpd on our port instead of port 25."""
    lines = [f"127.0.0.1:{port} inet n - n - - smtpd"]
    for line in pathlib.Path(MASTER_CF_TEMPLATE).read_text().splitlines():
        fields = line.split()
        if line[:1].isalpha() and len(fields) >= 8:
            if fields[0] == "smtp" and fields[1] == "inet":
                continue
            fields[4] = "n"  # chroot column
            line = " ".join(fields)
        lines.append(line)
    return "\n".join(lines) + "\n"


class PostfixInstance:
    """Start with start(), stop with stop(); `master_pid` roots the process tree to measure."""

    def __init__(self, work_dir, port, relay_to=None, domain="example.test", routes=None,
                 extra_cf=""):
        self.work = pathlib.Path(work_dir)
        self.port = port
        # {domain: "127.0.0.1:PORT"}; relay_to is the sink.test entry. Any route: relay mode.
        self.routes = dict(routes or {})
        if relay_to:
            self.routes["sink.test"] = relay_to
        self.domain = domain  # virtual mode: the domain whose alice it delivers to
        self.extra_cf = extra_cf
        self.conf = self.work / "conf"
        self.maildir_new = self.work / f"mail/{domain}/alice/Maildir/new"
        self.master_pid = None
        self._foreground = None

    def start(self, timeout=30):
        """Starts Postfix and returns once it greets on its port (RuntimeError after
        `timeout` s)."""
        self.launch(timeout)
        wait_for_greeting(self.port, self._foreground, self.work / "maillog", timeout=timeout)

    def launch(self, timeout=30):
        """Starts Postfix and returns once master has written its PID, without waiting for
        the greeting. Launched again after stop() or kill(), it reuses the same queue."""
        for sub in ("conf", "queue", "data"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.work, 0o755)  # virtual(8) runs as nobody and must reach the mailboxes
        os.chown(self.work / "data", _postfix_uid(), -1)
        maildir = self.maildir_new.parent
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        for path in [self.work / "mail", *(self.work / "mail").rglob("*")]:
            os.chown(path, MAILBOX_UID, MAILBOX_GID)
        (self.conf / "main.cf").write_text(
            _main_cf(self.work, self.routes, self.domain, self.extra_cf))
        (self.conf / "master.cf").write_text(_master_cf(self.port))
        # start-fg keeps master our descendant: we stop it by PID and reap it ourselves.
        with open(self.work / "start-fg.log", "ab") as log:
            self._foreground = subprocess.Popen([POSTFIX, "-c", str(self.conf), "start-fg"],
                                                stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT)
        self.master_pid = self._wait_for_master_pid(timeout, stale=self.master_pid)

    def _wait_for_master_pid(self, timeout, stale=None):
        """`stale`: the PID a killed master left in the file, which is not the new one."""
        pid_file = self.work / "queue/pid/master.pid"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._foreground.poll() is not None:
                raise RuntimeError(
                    f"postfix start-fg exited with {self._foreground.returncode}; see "
                    f"{self.work}/start-fg.log and {self.work}/maillog")
            try:
                pid = int(pid_file.read_text().split()[0])
                if pid != stale and os.path.exists(f"/proc/{pid}"):
                    return pid
            except (FileNotFoundError, ValueError, IndexError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"Postfix master did not write {pid_file} within {timeout}s")

    def running(self):
        """Whether `postfix start-fg` (master, once it runs) is still alive."""
        return self._foreground is not None and self._foreground.poll() is None

    def kill(self, timeout=20):
        """SIGKILL to master and every daemon under it at once, as a crash would; the queue
        stays as it was left (including the stale pid file, which Postfix copes with)."""
        if self._foreground is None:
            return
        tree = process_tree(self.master_pid) if self.master_pid else []
        for pid in tree + [self._foreground.pid]:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        self._foreground.wait(timeout)
        self._foreground = None
        _wait_gone(tree, timeout)

    def stop(self, timeout=20):
        """SIGTERM to master (what `postfix stop` sends); SIGKILL to the tree if it lingers."""
        if self._foreground is None:
            return
        tree = process_tree(self.master_pid) if self.master_pid else []
        if self.master_pid:
            try:
                os.kill(self.master_pid, 15)
            except ProcessLookupError:
                pass
        try:
            self._foreground.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in tree + [self._foreground.pid]:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            self._foreground.wait(timeout)
        self._foreground = None
        _wait_gone(tree, timeout)


def _postfix_uid():
    return pwd.getpwnam("postfix").pw_uid


def _wait_gone(pids, timeout):
    """Master's children exit on their own once master is gone; wait for them (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and not _is_zombie(p)]
        if not alive:
            return
        time.sleep(0.1)
    for pid in alive:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
        return text[text.rindex(")") + 2] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True
