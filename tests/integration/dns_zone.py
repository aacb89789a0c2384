"""A real authoritative DNS server for the end-to-end tests: nsd on a free loopback port,
serving zones written from Python data, run unprivileged in the foreground and stopped by
its PID (tests/unit/dns/nsd_server.h does the same for the C++ tests).

    zone = Zone("relay.test").mx(10, "mx1.relay.test").a("mx1", "127.0.0.11")
    with NsdServer(tmp_path / "dns", [zone]) as dns:
        ...  # herald's [dns] servers = [dns.address]

Every name the tests use lives under .test (RFC 2606), so nothing here can reach the
Internet; nsd answers only for its own zones (REFUSED for the rest).
"""

import os
import pathlib
import signal
import socket
import struct
import subprocess
import time

from bounded_wait import seconds
from loopback_ports import free_port

NSD = "/usr/sbin/nsd"


class Zone:
    """One zone and its records; owners are relative to the zone ("@" is its apex) or
    absolute with a trailing dot. The SOA and NS records are added when it is written."""

    def __init__(self, name):
        self.name = name.rstrip(".").lower()
        self.records = []  # (owner, type, rdata as in a zone file)

    def add(self, owner, rtype, rdata):
        self.records.append((owner, rtype, rdata))
        return self

    def mx(self, preference, host, owner="@"):
        return self.add(owner, "MX", f"{preference} {_absolute(host)}")

    def null_mx(self, owner="@"):
        """RFC 7505: `MX 0 .`, the domain accepts no mail."""
        return self.add(owner, "MX", "0 .")

    def a(self, owner, address):
        return self.add(owner, "A", address)

    def aaaa(self, owner, address):
        return self.add(owner, "AAAA", address)

    def txt(self, owner, text):
        # One character-string per 255 octets (RFC 1035 3.3.14); quotes and backslashes
        # escaped as zone files want them.
        chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
        quoted = " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for c in chunks)
        return self.add(owner, "TXT", quoted)

    def text(self):
        lines = [f"$ORIGIN {self.name}.", "$TTL 60",
                 f"@ IN SOA ns.{self.name}. hostmaster.{self.name}. 1 3600 600 86400 60",
                 f"@ IN NS ns.{self.name}.", "ns IN A 127.0.0.1"]
        lines += [f"{owner} IN {rtype} {rdata}" for owner, rtype, rdata in self.records]
        return "\n".join(lines) + "\n"


def _absolute(host):
    return host if host.endswith(".") else host + "."


def query(port, name, rtype, timeout=2.0, host="127.0.0.1"):
    """Asks the server at host:port one question over UDP; returns (rcode, answer count).
    Enough to know it is up; the tests check answers with dnspython (see test_fixtures)."""
    types = {"A": 1, "NS": 2, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}
    qname = b"".join(bytes([len(label)]) + label.encode()
                     for label in name.rstrip(".").split(".") if label) + b"\0"
    ident = os.getpid() & 0xFFFF
    packet = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack(
        "!HH", types[rtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, (host, port))
        reply, _ = s.recvfrom(4096)
    _, flags, _, answers, _, _ = struct.unpack("!HHHHHH", reply[:12])
    return flags & 0xF, answers


class NsdServer:
    """nsd serving `zones` on 127.0.0.1:port (UDP and TCP). start() returns once it answers
    a query for its first zone's SOA; stop() ends its process group (nsd forks a zone
    transfer daemon and a server process) by the PID it was started with."""

    def __init__(self, work_dir, zones):
        self.dir = pathlib.Path(work_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.zones = list(zones)
        assert self.zones, "nsd needs at least one zone"
        self.port = free_port(udp=True)
        self.process = None
        self._write_config()

    @property
    def address(self):
        """What herald's [dns] servers takes."""
        return f"127.0.0.1:{self.port}"

    def _write_config(self):
        d = self.dir
        conf = [
            "server:",
            f"  ip-address: 127.0.0.1@{self.port}",
            '  username: ""', '  chroot: ""', '  database: ""',
            f'  zonesdir: "{d}"', f'  pidfile: "{d}/nsd.pid"', f'  xfrdfile: "{d}/xfrd.state"',
            f'  xfrdir: "{d}"', f'  zonelistfile: "{d}/zone.list"', f'  logfile: "{d}/nsd.log"',
            "  server-count: 1", "  verbosity: 1", "  hide-version: yes",
            "remote-control:", "  control-enable: no",
        ]
        for zone in self.zones:
            (d / f"{zone.name}.zone").write_text(zone.text())
            conf += ["zone:", f'  name: "{zone.name}"', f'  zonefile: "{zone.name}.zone"']
        (d / "nsd.conf").write_text("\n".join(conf) + "\n")

    def start(self, timeout=None):
        assert self.process is None
        with open(self.dir / "nsd.out", "wb") as out:
            # Its own session, so that stop() reaches nsd's children through the group.
            self.process = subprocess.Popen([NSD, "-d", "-c", str(self.dir / "nsd.conf")],
                                            stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + (timeout or seconds(10))
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise RuntimeError(f"nsd exited with {code} at start:\n{self.diagnostics()}")
            try:
                rcode, answers = query(self.port, self.zones[0].name, "SOA", timeout=0.2)
                if rcode == 0 and answers == 1:
                    return self
            except OSError:  # not bound yet (connection refused) or no answer in time
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nsd did not answer within the time limit:\n{self.diagnostics()}")

    def stop(self, timeout=5.0):
        if self.process is None:
            return
        pid = self.process.pid
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        if self.process.returncode is None:
            self.process.wait(timeout)
        self.process = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # until the killed children are reaped too
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def diagnostics(self):
        text = ""
        for name in ("nsd.out", "nsd.log"):
            path = self.dir / name
            if path.exists():
                text += f"--- {path}\n{path.read_text(errors='replace')[-4000:]}"
        return text

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
