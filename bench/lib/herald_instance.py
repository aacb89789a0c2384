"""A heraldd on a loopback port doing the same job as the Postfix instance: it accepts mail
for alice@example.test and delivers it to its Maildir, or, given `relay_to`, relays mail for
sink.test from 127.0.0.0/8 (trusted_networks) to that next hop ([[route]]). herald's default
settings apply except the connection limits, which must not refuse the load generator's
sessions, and sender verification, which the Postfix side does not do either."""

import pathlib
import signal
import subprocess

from greeting import wait_for_greeting


def _config(work, port, relay_to=None):
    trusted = 'trusted_networks = ["127.0.0.0/8"]\n' if relay_to else ""
    route = f'[[route]]\ndomain = "sink.test"\nto = "{relay_to}"\n\n' if relay_to else ""
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

# The Postfix side runs no SPF/DKIM/DMARC milter or policy service, and the bench has no
# DNS for its domains: like for like, herald's sender verification is off.
[policy]
verify_inbound = false

{route}[[domain]]
name = "example.test"

[[user]]
address = "alice@example.test"
"""


class HeraldInstance:
    """Start with start(), stop with stop(); `pid` is the process to measure."""

    def __init__(self, work_dir, port, bin_dir, relay_to=None):
        self.work = pathlib.Path(work_dir)
        self.port = port
        self.relay_to = relay_to  # "127.0.0.1:PORT": relay mode
        self.heraldd = pathlib.Path(bin_dir) / "heraldd"
        self.maildir_new = self.work / "data/mail/example.test/alice/Maildir/new"
        self.pid = None
        self._process = None

    def start(self):
        self.work.mkdir(parents=True, exist_ok=True)
        config = self.work / "herald.toml"
        config.write_text(_config(self.work, self.port, self.relay_to))
        with open(self.work / "heraldd.log", "wb") as log:
            self._process = subprocess.Popen([str(self.heraldd), "--config", str(config)],
                                             stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT)
        self.pid = self._process.pid
        wait_for_greeting(self.port, self._process, self.work / "heraldd.log", timeout=30)

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

