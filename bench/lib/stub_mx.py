"""A next hop that is not a working mail server, for benchmarks that need one on loopback.

  /usr/bin/python3 stub_mx.py --port PORT --mode tarpit|down --status FILE [--lifetime S]
                              [--max-connections N]

- `tarpit`: accepts TCP connections and never sends a greeting; holds each until the client
  closes it (or the stub exits). What a hostile or wedged MX does: the client's greeting
  timeout is all that frees it.
- `down`: greets every connection with `421 4.3.2` (RFC 5321 3.8: service not available)
  and closes it: a destination that is up at the TCP level and refuses every transaction.

Bounded: it holds at most --max-connections at once (later ones are closed at once and
counted as `refused`), reads and discards at most 64 KiB per connection, and exits by itself
after --lifetime seconds (default 900) or on SIGTERM. Every 0.25 s and on exit it writes its
counters as JSON to FILE (through a rename, so a reader never sees half a file): connections
accepted, held now, peak held, refused, and the wall-clock times of the first and the latest
connection.
"""

import argparse
import asyncio
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from child_process import terminate

READ_LIMIT = 64 * 1024


class Counters:
    def __init__(self):
        self.accepted = 0
        self.held = 0
        self.peak_held = 0
        self.refused = 0
        self.first = None
        self.latest = None

    def write(self, path):
        temporary = f"{path}.tmp"
        with open(temporary, "w") as f:
            json.dump({"accepted": self.accepted, "held": self.held,
                       "peak_held": self.peak_held, "refused": self.refused,
                       "first": self.first, "latest": self.latest}, f)
        os.replace(temporary, path)


async def serve(args):
    counters = Counters()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def connection(reader, writer):
        now = time.time()
        counters.first = counters.first or now
        counters.latest = now
        if counters.held >= args.max_connections:
            counters.refused += 1
            writer.close()
            return
        counters.accepted += 1
        counters.held += 1
        counters.peak_held = max(counters.peak_held, counters.held)
        try:
            if args.mode == "down":
                writer.write(b"421 4.3.2 bench destination down, try again later\r\n")
                await writer.drain()
            else:
                # Never greet; read (and drop) what the client sends until it gives up.
                taken = 0
                while taken < READ_LIMIT:
                    chunk = await reader.read(4096)
                    if not chunk:
                        break
                    taken += len(chunk)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            counters.held -= 1
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", args.port, backlog=1024)
    deadline = loop.time() + args.lifetime
    while not stop.is_set() and loop.time() < deadline:
        counters.write(args.status)
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except asyncio.TimeoutError:
            pass
    server.close()  # held connections are cancelled when asyncio.run() returns
    counters.write(args.status)


class StubMx:
    """The stub as a child process of a benchmark: start(), status(), stop() (by PID)."""

    def __init__(self, work_dir, port, mode, lifetime=900.0):
        self.work = pathlib.Path(work_dir)
        self.port = port
        self.mode = mode
        self.lifetime = lifetime
        self.status_file = self.work / f"stub-mx-{mode}-{port}.json"
        self._process = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=10):
        self.work.mkdir(parents=True, exist_ok=True)
        self.status_file.unlink(missing_ok=True)
        with open(self.work / f"stub-mx-{self.port}.log", "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, __file__, "--port", str(self.port), "--mode", self.mode,
                 "--status", str(self.status_file), "--lifetime", str(self.lifetime)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self.status_file.exists():  # written once it listens
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"stub MX on port {self.port} did not start; see {log.name}")
            time.sleep(0.05)
        return self

    def status(self):
        """The latest counters (see the module's docstring)."""
        return json.loads(self.status_file.read_text())

    def stop(self, timeout=10):
        if self._process is None:
            return
        terminate(self._process, timeout)
        self._process = None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("tarpit", "down"), required=True)
    parser.add_argument("--status", required=True)
    parser.add_argument("--lifetime", type=float, default=900.0)
    parser.add_argument("--max-connections", type=int, default=2000)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
