"""A heraldd on a loopback port doing the same job as the Postfix instance: it accepts mail
for alice@example.test and delivers it to its Maildir, or, given `relay_to`, relays mail for
sink.test from 127.0.0.0/8 (trusted_networks) to that next hop ([[route]]); `routes` adds
more domains and their next hops the same way. herald's default settings apply except the
connection limits, which must not refuse the load generator's sessions, sender verification,
which the Postfix side does not do either, and whatever a benchmark passes as `extra` (TOML
tables appended to the file) or `limits` (keys added to [limits]); each benchmark documents
its own.

Given `mqtt_port`, it also listens for MQTT there (`[[listen]] protocol = "mqtt"`) with the
keys of `mqtt` (TOML lines) as its [mqtt] table, and start() then waits for that port too;
`open_files` sets its RLIMIT_NOFILE (many MQTT connections need more than the default)."""

import pathlib
import signal
import subprocess

from child_process import file_limit
from greeting import wait_for_greeting, wait_for_listener


def _mqtt_config(mqtt_port, mqtt):
    if mqtt_port is None:
        return "", ""
    listen = f'[[listen]]\nprotocol = "mqtt"\naddress = "127.0.0.1:{mqtt_port}"\n\n'
    return listen, f"[mqtt]\n{mqtt}\n"


def _config(work, port, routes, extra, limits, mqtt_port=None, mqtt=""):
    trusted = 'trusted_networks = ["127.0.0.0/8"]\n' if routes else ""
    route = "".join(f'[[route]]\ndomain = "{domain}"\nto = "{to}"\n\n'
                    for domain, to in routes.items())
    mqtt_listen, mqtt_table = _mqtt_config(mqtt_port, mqtt)
    return f"""\
[server]
hostname = "bench-herald.test"
data_dir = "{work}/data"
{trusted}
[[listen]]
protocol = "smtp"
address = "127.0.0.1:{port}"

{mqtt_listen}[limits]
max_connections = 2000
max_connections_per_ip = 2000
{limits}
# The Postfix side runs no SPF/DKIM/DMARC milter or policy service, and the bench has no
# DNS for its domains: like for like, herald's sender verification is off.
[policy]
verify_inbound = false

{mqtt_table}{route}[[domain]]
name = "example.test"

[[user]]
address = "alice@example.test"
{extra}"""


class HeraldInstance:
    """Start with start(), stop with stop(); `pid` is the process to measure."""

    def __init__(self, work_dir, port, bin_dir, relay_to=None, routes=None, extra="",
                 limits="", mqtt_port=None, mqtt="", open_files=None):
        """`limits`: more keys (TOML lines) for the [limits] table; `mqtt_port`, `mqtt` and
        `open_files`: see the module's description."""
        self.work = pathlib.Path(work_dir)
        self.port = port
        # {domain: "127.0.0.1:PORT"}; relay_to is the sink.test entry. Any route: relay mode.
        self.routes = dict(routes or {})
        if relay_to:
            self.routes["sink.test"] = relay_to
        self.extra = extra
        self.limits = limits
        self.mqtt_port = mqtt_port
        self.mqtt = mqtt
        self.open_files = open_files
        self.config = self.work / "herald.toml"
        self.heraldd = pathlib.Path(bin_dir) / "heraldd"
        self.maildir_new = self.work / "data/mail/example.test/alice/Maildir/new"
        self.pid = None
        self._process = None

    def start(self, timeout=30):
        """Starts heraldd and returns once it greets (RuntimeError after `timeout` s). Started
        again after stop() or kill(), it reopens the same data directory; the log is appended."""
        self.launch()
        log = self.work / "heraldd.log"
        wait_for_greeting(self.port, self._process, log, timeout=timeout)
        if self.mqtt_port is not None:
            wait_for_listener(self.mqtt_port, self._process, log, timeout)

    def launch(self):
        """Starts heraldd and returns at once, without waiting for its listeners."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.config.write_text(_config(self.work, self.port, self.routes, self.extra, self.limits,
                                       self.mqtt_port, self.mqtt))
        with open(self.work / "heraldd.log", "ab") as log:
            self._process = subprocess.Popen([str(self.heraldd), "--config", str(self.config)],
                                             stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT,
                                             preexec_fn=file_limit(self.open_files))
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

