"""Postfix's smtp-sink as the downstream server of the relay benchmark, with a count of the
messages it has completely received and the time the last one arrived.

smtp-sink's own counters (-c) are buffered and `-M N` exits only on message N+1, so neither
tells when message N arrived. With `-d TEMPLATE` it writes one file per mail transaction,
opened when the transaction starts and closed at its end; a file the process no longer has
open is a transaction that is over, and its mtime is when its last byte arrived.
"""

import os
import pathlib
import pwd
import subprocess

from child_process import terminate
from greeting import wait_for_greeting

SMTP_SINK = "/usr/sbin/smtp-sink"
SINK_USER = "nobody"  # smtp-sink running as root must drop privileges (-u)


class SmtpSink:
    def __init__(self, work_dir, port):
        self.work = pathlib.Path(work_dir)
        self.port = port
        self.dumps = self.work / "dumps"
        self._process = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self.dumps.mkdir(parents=True, exist_ok=True)
        user = pwd.getpwnam(SINK_USER)
        os.chown(self.dumps, user.pw_uid, user.pw_gid)
        with open(self.work / "smtp-sink.log", "wb") as log:
            self._process = subprocess.Popen(
                [SMTP_SINK, "-u", SINK_USER, "-m", "1000", "-d", f"{self.dumps}/m.",
                 self.address, "1000"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_for_greeting(self.port, self._process, self.work / "smtp-sink.log", timeout=30)
        self._clear()  # the greeting probe opened no transaction, but be sure
        return self

    def _clear(self):
        for path in self.dumps.iterdir():
            path.unlink()

    def _open_dumps(self):
        prefix = str(self.dumps) + "/"
        fd_dir = f"/proc/{self._process.pid}/fd"
        held = 0
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(f"{fd_dir}/{fd}").startswith(prefix):
                    held += 1
            except FileNotFoundError:
                pass
        return held

    def completed(self):
        """Transactions received to their end so far."""
        files = sum(1 for _ in os.scandir(self.dumps))
        return files - self._open_dumps()

    def last_arrival(self):
        with os.scandir(self.dumps) as it:
            return max(entry.stat().st_mtime for entry in it)

    def stop(self, timeout=10):
        if self._process is None:
            return
        terminate(self._process, timeout)
        self._process = None
