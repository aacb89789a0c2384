"""One heraldd under test: its configuration, its process and the herald CLI pointed at it.

The configuration is the one every end-to-end test shares (domain example.test; users alice
and bob; postmaster -> alice; team -> alice + bob) with per-test [limits] and [queue]
overrides. The daemon listens on a free loopback port picked at run time.
"""

import os
import pathlib
import re
import shlex
import signal
import socket
import subprocess

from bounded_wait import seconds, wait_until
from loopback_ports import free_port

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN_DIR = pathlib.Path(os.environ.get("HERALD_BIN_DIR") or REPO / "build/bin")
HOSTNAME = "mx.example.test"
QUEUED_AS = re.compile(r"250 2\.0\.0 queued as ([0-9A-Z]{26})")


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _table(name, values):
    if not values:
        return ""
    return f"[{name}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items()) + "\n"


def _listeners(extra_listeners):
    return "".join(f'[[listen]]\nprotocol = "{protocol}"\naddress = "127.0.0.1:{port}"\n\n'
                   for protocol, port in (extra_listeners or {}).items())


def _password_line(password_hashes, address):
    hash_ = (password_hashes or {}).get(address)
    return f"password_hash = {_toml_value(hash_)}\n" if hash_ else ""


def _array_of_tables(name, entries):
    return "".join(f"[[{name}]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in e.items())
                   + "\n" for e in entries or [])


def config_text(data_dir, port, limits=None, queue=None, log_level="info", extra_listeners=None,
                password_hashes=None, dns_servers=None, outbound=None, destinations=None,
                routes=None, trusted_networks=None, server=None, dkim=None, policy=None,
                aliases=None, srs=None, arc=None, host="127.0.0.1", mqtt=None, devices=None):
    """The shared test configuration. Relay tests add: dns_servers (["127.0.0.1:PORT"] of a
    test nsd), outbound ({[outbound] keys}, e.g. mx_port), destinations ([{[[destination]]
    keys}]), routes ([{"domain": ..., "to": "host:port"}]), trusted_networks (["127.0.0.0/8"],
    [server] trusted_networks), server ({other [server] keys}), dkim ([{[[dkim]] keys}]),
    policy ({[policy] keys}), aliases ([{[[alias]] keys}] beside the shared ones), srs
    ({[srs] keys}) and arc ({[arc] keys}); host is the smtp listener's loopback address. The
    MQTT face adds mqtt ({[mqtt] keys}) and devices ([{[[device]] keys}]).
    Without dns_servers there is no DNS that knows the test domains, so sender verification is
    off unless `policy` says otherwise."""
    server_extra = dict(server or {})
    if trusted_networks is not None:
        server_extra["trusted_networks"] = list(trusted_networks)
    server_lines = "".join(f"{k} = {_toml_value(v)}\n" for k, v in server_extra.items())
    dns = _table("dns", {"servers": list(dns_servers)} if dns_servers else None)
    if policy is None and not dns_servers:
        policy = {"verify_inbound": False}
    return f"""\
[server]
hostname = "{HOSTNAME}"
data_dir = {_toml_value(str(data_dir))}
log_level = "{log_level}"
{server_lines}
[[listen]]
protocol = "smtp"
address = "{host}:{port}"

{_listeners(extra_listeners)}{_table("limits", limits)}{_table("queue", queue)}\
{dns}{_table("policy", policy)}{_table("srs", srs)}{_table("arc", arc)}{_table("outbound", outbound)}{_array_of_tables("destination", destinations)}\
{_array_of_tables("route", routes)}{_array_of_tables("dkim", dkim)}{_table("mqtt", mqtt)}\
{_array_of_tables("device", devices)}[[domain]]
name = "example.test"

[[user]]
address = "alice@example.test"
{_password_line(password_hashes, "alice@example.test")}
[[user]]
address = "bob@example.test"
{_password_line(password_hashes, "bob@example.test")}
[[alias]]
address = "postmaster@example.test"
to = ["alice@example.test"]

[[alias]]
address = "team@example.test"
to = ["alice@example.test", "bob@example.test"]

{_array_of_tables("alias", aliases)}"""


def _passable_by_others(directory):
    """Lets every user through `directory` and each one above it (o+x): a heraldd started as
    root runs as [server] user, by default herald, which must reach its data_dir and reread
    herald.toml there (pytest's /tmp/pytest-of-root is mode 0700)."""
    for path in (directory, *directory.parents):
        mode = path.stat().st_mode
        if not mode & 0o001:
            path.chmod(mode | 0o001)


class HeraldDaemon:
    """A heraldd process on `port` with its data in `data_dir`.

    start() returns once the daemon answers with a 220 greeting; stop() sends SIGTERM and
    returns the exit code (SIGKILL after a bounded wait, reported as such); kill() is the
    SIGKILL the crash test uses. Every start appends to the same log file, which the test
    report shows when a test fails.
    """

    def __init__(self, work_dir, limits=None, queue=None, submission=False, password_hashes=None,
                 host="127.0.0.1", port=None, mqtt_listeners=(), **relay_options):
        """submission=True adds a `submission` and a `submissions` listener, on
        submission_port and submissions_port; password_hashes maps alice/bob's addresses to
        their [[user]] password_hash; host and port are the smtp listener's (port: a free
        one by default); relay_options are config_text's dns_servers, outbound,
        destinations, routes, trusted_networks, server, dkim, policy, aliases, srs and arc,
        and the MQTT face's mqtt and devices. mqtt_listeners names the MQTT listeners to add
        ("mqtt", "mqtts"), each on a free port: mqtt_port, mqtts_port."""
        self.work = pathlib.Path(work_dir)
        if os.geteuid() == 0:
            _passable_by_others(self.work)
        self.data_dir = self.work / "data"
        self.config = self.work / "herald.toml"
        self.log = self.work / "heraldd.log"
        self.host = host
        self.port = port or free_port()
        self.submission_port = free_port() if submission else None
        self.submissions_port = free_port() if submission else None
        self.process = None
        self.exit_codes = []
        # Put before the heraldd command line, e.g. setpriv to start it as another user.
        self.command_prefix = []
        self.binary = BIN_DIR / "heraldd"  # a test may start a copy (one given capabilities)
        extra_listeners = ({"submission": self.submission_port,
                            "submissions": self.submissions_port} if submission else {})
        self.mqtt_port = free_port() if "mqtt" in mqtt_listeners else None
        self.mqtts_port = free_port() if "mqtts" in mqtt_listeners else None
        for protocol, mqtt_port in (("mqtt", self.mqtt_port), ("mqtts", self.mqtts_port)):
            if mqtt_port:
                extra_listeners[protocol] = mqtt_port
        self.config.write_text(config_text(self.data_dir, self.port, limits, queue,
                                           host=host, extra_listeners=extra_listeners,
                                           password_hashes=password_hashes,
                                           **relay_options))

    # --- process -------------------------------------------------------------------------

    def start(self, timeout=None):
        assert self.process is None, "heraldd is already running"
        with open(self.log, "ab") as log:
            log.write(f"=== heraldd --config {self.config} (port {self.port})\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [*self.command_prefix, str(self.binary), "--config", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        wait_until(self._greets, timeout or seconds(20), f"heraldd to greet on port {self.port}")
        return self

    def _greets(self):
        if self.process.poll() is not None:
            code = self.process.returncode
            self.process = None
            last = (self.log_text().strip().splitlines() or [""])[-1]
            raise AssertionError(f"heraldd exited with {code} during start-up: {last}")
        try:
            with socket.create_connection((self.host, self.port), timeout=seconds(2)) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    while s.recv(512):  # until the daemon closes: the probe is over
                        pass
                    return True
        except OSError:
            pass
        return False

    def stop(self, timeout=None):
        """SIGTERM and wait; returns the exit code, or 'SIGKILL' if it had to be killed."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout or seconds(15))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(seconds(15))
            code = "SIGKILL"
        self.process = None
        self.exit_codes.append(code)
        return code

    def kill(self):
        """SIGKILL: a crash mid-work; the daemon finishes nothing (the kernel keeps what it
        already wrote, so this tests the ordering of commits, not the disk's fsync)."""
        self.process.kill()
        self.process.wait(seconds(15))
        self.process = None

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- mailboxes -----------------------------------------------------------------------

    def maildir(self, address):
        local, domain = address.split("@")
        return self.data_dir / "mail" / domain / local / "Maildir"

    def new_messages(self, address):
        """Paths of the files in the mailbox's new/, sorted; [] if it does not exist yet."""
        new = self.maildir(address) / "new"
        if not new.is_dir():
            return []
        return sorted(p for p in new.iterdir() if not p.name.startswith("."))

    def wait_for_messages(self, address, count, timeout=None):
        """Waits (bounded) until the mailbox holds `count` files and returns their paths."""
        wait_until(lambda: len(self.new_messages(address)) >= count, timeout or seconds(20),
                   f"{count} message(s) in {address}'s Maildir/new")
        return self.new_messages(address)

    def all_stored_files(self):
        """Every file below data_dir/mail: what a refused message must not have left behind."""
        mail = self.data_dir / "mail"
        return sorted(p for p in mail.rglob("*") if p.is_file()) if mail.exists() else []

    # --- the herald CLI ------------------------------------------------------------------

    def cli(self, *args, check=True):
        result = subprocess.run(
            [str(BIN_DIR / "herald"), "--config", str(self.config), *args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds(30))
        if check:
            assert result.returncode == 0, (
                f"herald {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}")
        return result

    def trace(self, message_id):
        return Trace(self.cli("trace", message_id).stdout)

    def queue_list(self, *options):
        """The ids `herald queue list OPTIONS` prints (empty when it says the queue is empty)."""
        out = self.cli("queue", "list", *options).stdout
        return re.findall(r"^([0-9A-Z]{26})\s", out, re.MULTILINE)

    def wait_for_empty_queue(self, timeout=None):
        wait_until(lambda: not self.queue_list(), timeout or seconds(30),
                   "`herald queue list` to show no pending deliveries")

    def wait_for_event(self, message_id, event_type, count=1, timeout=None):
        """Waits until the ledger of the message has `count` events of the type; returns them."""
        def found():
            events = self.trace(message_id).events_of(event_type)
            return events if len(events) >= count else None
        return wait_until(found, timeout or seconds(20),
                          f"{count} '{event_type}' event(s) in the ledger of {message_id}")


class Trace:
    """`herald trace ID` output: a header block, the ledger, and the deliveries.

    Ledger lines read `TIME  TYPE  [RECIPIENT]  key=value ...` (values with spaces in double
    quotes); `events` holds (type, recipient, fields) for each.
    """

    def __init__(self, text):
        self.text = text
        blocks = text.split("\n\n")
        self.header = blocks[0]
        self.events = []
        for line in (blocks[1] if len(blocks) > 1 else "").splitlines():
            tokens = shlex.split(line, posix=True)
            if len(tokens) < 2:
                continue
            recipient = next((t for t in tokens[2:] if "=" not in t), "")
            fields = dict(t.split("=", 1) for t in tokens[2:] if "=" in t)
            self.events.append((tokens[1], recipient, fields))

    def events_of(self, event_type):
        return [e for e in self.events if e[0] == event_type]

    def header_line(self, name):
        for line in self.header.splitlines():
            if line.startswith(name + " "):
                return line[len(name):].strip()
        return None
