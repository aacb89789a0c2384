"""What the side-by-side benchmarks share: settings from the environment, the smtp-source
load, waiting for the last delivery, medians and ratios, and the machine and software
description written beside every result."""

import os
import pathlib
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
SMTP_SOURCE = "/usr/sbin/smtp-source"
SERVERS = ("postfix", "herald")


class Settings:
    """BENCH_MESSAGES, BENCH_SESSIONS, BENCH_ROUNDS, BENCH_SIZE, BENCH_SERVERS,
    HERALD_BIN_DIR, BENCH_KEEP, BENCH_DELIVERY_TIMEOUT, BENCH_RESULTS_DIR (bench/README.md)."""

    def __init__(self, env, sessions="1 10 50", messages="5000"):
        """`sessions` and `messages`: this benchmark's defaults for BENCH_SESSIONS and
        BENCH_MESSAGES."""
        self.messages = int(env.get("BENCH_MESSAGES", messages))
        self.sessions = [int(s) for s in env.get("BENCH_SESSIONS", sessions).split()]
        self.rounds = int(env.get("BENCH_ROUNDS", "3"))
        self.size = int(env.get("BENCH_SIZE", "4096"))
        self.servers = env.get("BENCH_SERVERS", " ".join(SERVERS)).split()
        self.bin_dir = pathlib.Path(env.get("HERALD_BIN_DIR", REPO / "build/bin"))
        self.keep = env.get("BENCH_KEEP", "0") == "1"
        self.delivery_timeout = float(env.get("BENCH_DELIVERY_TIMEOUT", "300"))
        self.results_dir = pathlib.Path(env.get("BENCH_RESULTS_DIR", REPO / "bench/results"))
        unknown = set(self.servers) - set(SERVERS)
        if unknown:
            sys.exit(f"BENCH_SERVERS: unknown server(s) {sorted(unknown)}; use postfix, herald")


def count_files(directory):
    try:
        with os.scandir(directory) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def last_arrival(directory):
    """When the newest file entered new/: the rename/link into new/ sets the inode's ctime."""
    with os.scandir(directory) as it:
        return max(entry.stat().st_ctime for entry in it)


def wait_for_count(count, expected, timeout, stall=30.0):
    """Polls count() until it reaches `expected`; gives up after `timeout` seconds, or after
    `stall` seconds without progress. Returns the last count."""
    deadline = time.monotonic() + timeout
    seen = count()
    last_progress = time.monotonic()
    while seen < expected and time.monotonic() < min(deadline, last_progress + stall):
        time.sleep(0.1)
        now = count()
        if now > seen:
            last_progress = time.monotonic()
        seen = now
    return seen


def wait_for_delivery(directory, expected, timeout, stall=30.0):
    """Waits until `expected` files are in the directory (see wait_for_count)."""
    return wait_for_count(lambda: count_files(directory), expected, timeout, stall)


def run_load(port, settings, sessions, recipient):
    """smtp-source against 127.0.0.1:port; returns (start time, wall seconds, exit code,
    the lines it complained with on stderr)."""
    return run_loads(port, settings, [(sessions, settings.messages, recipient)])


def run_loads(port, settings, loads):
    """One smtp-source per (sessions, messages, recipient) in `loads`, all started together
    against 127.0.0.1:port; returns (start time, wall seconds until the last one finished,
    the highest exit code, the lines they complained with on stderr). Each is killed after
    a bound of max(120 s, all messages / 20 per second)."""
    timeout = max(120.0, sum(count for _, count, _ in loads) / 20)
    start = time.time()
    sources = []
    for sessions, count, recipient in loads:
        command = [SMTP_SOURCE, "-s", str(sessions), "-m", str(count), "-l", str(settings.size),
                   "-f", "src@bench.test", "-t", recipient, f"127.0.0.1:{port}"]
        sources.append(subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    codes, complaints = [], []
    for source in sources:
        try:
            _, stderr = source.communicate(timeout=max(1.0, start + timeout - time.time()))
        except subprocess.TimeoutExpired:
            source.kill()
            _, stderr = source.communicate()
            complaints.append(f"smtp-source killed after {timeout:.0f} s")
        codes.append(source.returncode)
        complaints += stderr.decode("utf-8", "replace").strip().splitlines()
    wall = time.time() - start
    return start, wall, max(codes, key=abs), complaints


def median_of(runs, server, sessions, key):
    values = [r[key] for r in runs if r["server"] == server and r["sessions"] == sessions]
    if not values or any(v is None for v in values):
        return None
    return statistics.median(values)


def fmt(value, digits=0):
    return "—" if value is None else f"{value:,.{digits}f}"


def ratio(herald, postfix):
    return "—" if herald is None or postfix is None else f"{herald / postfix:.2f}"


def machine_description():
    model = "unknown CPU"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{os.cpu_count()} × {model}, Linux {platform.release()}; load average at the "
            f"end {load} (other work on a shared machine makes every figure noisier)")


def versions(package="postfix", name="Postfix"):
    """The incumbent's Debian version (`package`, shown as `name`) and herald's commit."""
    incumbent = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                               capture_output=True, text=True).stdout.strip() or "unknown"
    herald = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    return f"{name} {incumbent} (Debian), herald {herald}"


def check_can_run(settings):
    """Exits with the reason when the benchmark cannot run here."""
    if os.geteuid() != 0:
        sys.exit("run as root: the private Postfix instance needs it (postfix -c DIR)")
    if "herald" in settings.servers and not (settings.bin_dir / "heraldd").exists():
        sys.exit(f"{settings.bin_dir}/heraldd not found: run `make build` or set HERALD_BIN_DIR")


def run_rounds(name, settings, measure, describe):
    """Every (round, sessions, server) run, A B A B, in a work directory of its own that
    unprivileged daemons may enter; `measure(server, sessions, round, settings, base, live)`
    registers what it starts in `live`, which is stopped whatever happens. Returns the runs."""
    base = pathlib.Path(tempfile.mkdtemp(prefix=f"herald-bench-{name}-"))
    os.chmod(base, 0o755)  # Postfix's daemons and smtp-sink run unprivileged and must get in
    live = []

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    runs = []
    try:
        print(f"{name}: {settings.messages} messages of {settings.size} bytes, sessions "
              f"{settings.sessions}, {settings.rounds} round(s), servers {settings.servers}; "
              f"work dir {base}", flush=True)
        for round_number in range(1, settings.rounds + 1):
            for sessions in settings.sessions:
                for server in settings.servers:
                    run = measure(server, sessions, round_number, settings, base, live)
                    runs.append(run)
                    print(describe(run), flush=True)
    finally:
        for process in list(live):
            process.stop()
        if not settings.keep:
            shutil.rmtree(base, ignore_errors=True)
    return runs


def exit_if_unmeasured(runs, label):
    """Exits 1, naming them on stderr, when some runs were not fully measured; `label` is the
    key that says which server or case a run was."""
    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        print(f"\n{len(failed)} run(s) not fully measured:", file=sys.stderr)
        for r in failed:
            print(f"  {r[label]} round {r['round']}: {r['status']}", file=sys.stderr)
        sys.exit(1)


def side_by_side_table(runs, sessions, rates, cpu_ratio=False):
    """The summary every SMTP benchmark prints: per session count, Postfix and herald side by
side for each (label, run key) in `rates` with herald/Postfix, then CPU (with its ratio when
`cpu_ratio`) and peak memory, each the median over rounds."""
    header = "| sessions"
    for label, _ in rates:
        header += f" | Postfix {label} msg/s | herald {label} msg/s | herald/Postfix"
    header += " | Postfix CPU s/1000 msgs | herald CPU s/1000 msgs"
    if cpu_ratio:
        header += " | herald/Postfix"
    header += " | Postfix peak ΣPSS MiB | herald peak RSS MiB |"
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    keys = [key for _, key in rates] + ["cpu_per_1000", "peak_mib"]
    for s in sessions:
        m = {(srv, key): median_of(runs, srv, s, key) for srv in SERVERS for key in keys}
        row = f"| {s} "
        for _, key in rates:
            row += (f"| {fmt(m['postfix', key])} | {fmt(m['herald', key])} "
                    f"| {ratio(m['herald', key], m['postfix', key])} ")
        row += f"| {fmt(m['postfix', 'cpu_per_1000'], 2)} | {fmt(m['herald', 'cpu_per_1000'], 2)} "
        if cpu_ratio:
            row += f"| {ratio(m['herald', 'cpu_per_1000'], m['postfix', 'cpu_per_1000'])} "
        row += f"| {fmt(m['postfix', 'peak_mib'], 1)} | {fmt(m['herald', 'peak_mib'], 1)} |"
        lines.append(row)
    return "\n".join(lines)
