"""A heraldd on a loopback port doing the same job as the Postfix instance: it accepts mail
for alice@example.test and delivers it to its Maildir, or, given `relay_to`, relays mail for
sink.test from 127.0.0.0/8 (trusted_networks) to that next hop ([[route]]); `routes` adds
more domains and their next hops the same way. herald's default settings apply except the
connection limits, which must not refuse the load generator's sessions, sender verification,
which the Postfix side does not do either, and whatever a benchmark passes as `extra` (TOML
tables appended to the file) or `limits` (keys added to [limits]); each benchmark documents
its own."""

import pathlib
import signal
import subprocess

from greeting import wait_for_greeting


def _config(work, port, routes, extra, limits):
    trusted = 'trusted_networks = ["127.0.0.0/8"]\n' if routes else ""
    route = "".join(f'[[route]]\ndomain = "{domain}"\nto = "{to}"\n\n'
                    for domain, to in routes.items())
    return f"""\
[server]
hostname = "bench-herald.test"
data_dir = "{work}/data"
{trusted}
[[listen]]
protocol = "smtp"
address = "127.0.0.1:{port}"

[limits]
max_connections = 2000
max_connections_per_ip = 2000
{limits}
# The Postfix side runs no SPF/DKIM/DMARC milter or policy service, and the bench has no
# DNS for its domains: like for like, herald's sender verification is off.
[policy]
verify_inbound = false

{route}[[domain]]
name = "example.test"

[[user]]
address = "alice@example.test"
{extra}"""


class HeraldInstance:
    """Start with start(), stop with stop(); `pid` is the process to measure."""

    def __init__(self, work_dir, port, bin_dir, relay_to=None, routes=None, extra="",
                 limits=""):
        """`limits`: more keys (TOML lines) for the [limits] table."""
        self.work = pathlib.Path(work_dir)
        self.port = port
        # {domain: "127.0.0.1:PORT"}; relay_to is the sink.test entry. Any route: relay mode.
        self.routes = dict(routes or {})
        if relay_to:
            self.routes["sink.test"] = relay_to
        self.extra = extra
        self.limits = limits
        self.config = self.work / "herald.toml"
        self.heraldd = pathlib.Path(bin_dir) / "heraldd"
        self.maildir_new = self.work / "data/mail/example.test/alice/Maildir/new"
        self.pid = None
        self._process = None

    def start(self, timeout=30):
        """Starts heraldd and returns once it greets (RuntimeError after `timeout` s). Started
        again after stop() or kill(), it reopens the same data directory; the log is appended."""
        self.launch()
        wait_for_greeting(self.port, self._process, self.work / "heraldd.log", timeout=timeout)

    def launch(self):
        """Starts heraldd and returns at once, without waiting for its listeners."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.config.write_text(_config(self.work, self.port, self.routes, self.extra, self.limits))
        with open(self.work / "heraldd.log", "ab") as log:
            self._process = subprocess.Popen([str(self.heraldd), "--config", str(self.config)],
                                             stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT)
        self.pid = self._process.pid

    def running(self):
        return self._process is not None and self._process.poll() is None

    def kill(self):
        """SIGKILL, as a crash would; the data directory stays as it was left."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait(20)
        self._process = None

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds. A daemon that
        does not exit cleanly is reported: its figures may be suspect."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            code = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout)
            code = "SIGKILL after SIGTERM was ignored"
        self._process = None
        if code != 0:
            print(f"warning: heraldd exited with {code}; see {self.work}/heraldd.log", flush=True)

