"""A private Debian Mosquitto (/usr/sbin/mosquitto, 2.0.11) on a loopback port: the incumbent
herald's MQTT face is compared with. Everything lives under one work directory (mosquitto.conf,
the persistence file, the log); the system's /etc/mosquitto is not read. The configuration is
its defaults except: one listener on 127.0.0.1:PORT, anonymous clients allowed (2.0 refuses
them by default), persistence on in the work directory, no connection limit, and the log in a
file, as the SMTP benchmarks log both servers to a file. Mosquitto is single-threaded, and its
persistence is a snapshot (every 30 minutes and at shutdown): a PUBACK does not mean on disk.
Started as root it drops to the `mosquitto` user, so the work directory is handed to that
user."""

import pathlib
import pwd
import shutil
import signal
import subprocess

from child_process import file_limit
from greeting import wait_for_listener

MOSQUITTO = "/usr/sbin/mosquitto"


class MosquittoInstance:
    """Start with start(), stop with stop(); `pid` is the process to measure."""

    def __init__(self, work_dir, port, open_files=None, extra=""):
        """`open_files`: the RLIMIT_NOFILE to start it with (100,000 idle connections need
        more than the default); `extra`: lines appended to mosquitto.conf."""
        self.work = pathlib.Path(work_dir)
        self.port = port
        self.open_files = open_files
        self.extra = extra
        self.config = self.work / "mosquitto.conf"
        self.log = self.work / "mosquitto.log"
        self.pid = None
        self._process = None

    def _write_config(self):
        self.config.write_text(f"""\
listener {self.port} 127.0.0.1
max_connections -1
allow_anonymous true
persistence true
persistence_location {self.work}/
log_dest file {self.log}
{self.extra}""")

    def start(self, timeout=20):
        """Starts mosquitto and returns once its port accepts connections (RuntimeError if it
        exits first or after `timeout` s)."""
        self.work.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self.log.touch()
        try:
            account = pwd.getpwnam("mosquitto")
            for path in (self.work, self.log):
                shutil.chown(path, account.pw_uid, account.pw_gid)
        except KeyError:
            pass  # no such user: mosquitto keeps running as whoever started it
        with open(self.work / "mosquitto.out", "ab") as out:
            self._process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, preexec_fn=file_limit(self.open_files))
        self.pid = self._process.pid
        wait_for_listener(self.port, self._process, self.log, timeout)

    def stop(self, timeout=20):
        """SIGTERM (mosquitto then writes its persistence snapshot), SIGKILL after `timeout`."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout)
            print(f"warning: mosquitto ignored SIGTERM; see {self.log}", flush=True)
        self._process = None
