"""A private Debian Mosquitto on a free loopback port: the reference broker the MQTT tests
measure herald and their own tools against. Its configuration, log and nothing else live in
the directory it is given; persistence is off, so every start is a fresh broker.
"""

import os
import pathlib
import pwd
import socket
import subprocess

from bounded_wait import seconds, wait_until
from child_process import terminate
from loopback_ports import free_port

MOSQUITTO = pathlib.Path("/usr/sbin/mosquitto")


class MosquittoBroker:
    """mosquitto -c WORK/mosquitto.conf, listening on 127.0.0.1:port with anonymous clients
    allowed (Mosquitto 2.0 refuses them on a configured listener otherwise)."""

    def __init__(self, work_dir, port=None):
        self.work = pathlib.Path(work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.config = self.work / "mosquitto.conf"
        self.log = self.work / "mosquitto.log"
        self.process = None
        # Started as root, Mosquitto would switch to user "mosquitto", who cannot write the
        # log in a root-owned temporary directory: it stays the user who started it.
        user = pwd.getpwuid(os.geteuid()).pw_name
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            f"user {user}\n"
            f"log_dest file {self.log}\n"
            "log_type all\n")

    def start(self):
        self.process = subprocess.Popen(
            [str(MOSQUITTO), "-c", str(self.config)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(self._listening, seconds(10), f"mosquitto to listen on port {self.port}")
        return self

    def _listening(self):
        if self.process.poll() is not None:
            raise AssertionError(f"mosquitto exited with {self.process.returncode}: "
                                 f"{self.process.stderr.read().decode(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.process is not None:
            terminate(self.process)
            self.process.stderr.close()
            self.process = None

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""
