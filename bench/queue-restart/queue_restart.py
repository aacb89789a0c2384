"""Restart with a large queue: herald against Postfix 3.7, side by side in one run.

For each server in turn (Postfix, then herald; never both at once), on a fresh scratch ext4
file system of its own (bench/lib/scratch_fs.py: a loop-mounted sparse image, so that the
queue goes away with one unmount instead of 2,000,000 unlinks):
1. fill its queue with N small messages for rcpt@down.test, a domain routed to a stub MX on
   loopback that answers every connection with `421 4.3.2` (bench/lib/stub_mx.py, mode
   `down`): herald's store through herald_queue_fill (Store::commit_message, as sessions
   commit), Postfix's deferred queue with copies of a message Postfix accepted and deferred
   itself (bench/lib/postfix_queue_fill.py). Every message is due for a retry at once;
2. start the server on it and wait for its greeting (the cold start), let it work for a few
   seconds, then SIGKILL it (Postfix: master and every daemon at once);
3. start it again (and a fresh stub MX on the same port) and measure, from the exec:
   the first 220 greeting and the first `250` for a new message (one attempt every 20 ms),
   the first connection to the down destination (delivery has started), memory 30 s after
   the exec, the time to list 10 queued messages (`herald queue list --limit 10`;
   `mailq | head`, i.e. postqueue -p until its tenth entry) and to show one
   (`herald queue show ID`; `postcat -q ID`).
Medians over the rounds go to stdout and bench/results/queue-restart-DATE.md.
bench/README.md explains how to read them.
"""

import argparse
import datetime
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))

import bench_common  # noqa: E402
from bench_common import (Settings, check_can_run, fmt, machine_description,  # noqa: E402
                          versions)
from herald_instance import HeraldInstance  # noqa: E402
from loopback_ports import free_port  # noqa: E402
from postfix_instance import PostfixInstance  # noqa: E402
import postfix_queue_fill  # noqa: E402
import process_stats  # noqa: E402
from queue_probe import first_accept, send_one, timed_listing, timed_run  # noqa: E402
from scratch_fs import ScratchFilesystem  # noqa: E402
from stub_mx import StubMx  # noqa: E402

RECIPIENT = "rcpt@down.test"
SETTLE_SECONDS = 5  # the cold-started server works this long before it is killed
LISTED = 10
HERALD_ENTRY = r"^([0-9A-Z]{26})\s"
POSTFIX_ENTRY = r"^([0-9A-F]{6,})[*!]?\s"


def bound(messages):
    """The longest a start or a query may take at this queue size."""
    return max(120.0, messages / 2000)


def fill_bound(messages):
    """The longest herald_queue_fill may take: 500 messages a second is far below what it
    does here (4,000–15,000), even on a busy machine."""
    return max(300.0, messages / 500)


def fill_herald(instance, settings, messages):
    store = instance.work / "data/store"
    store.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    subprocess.run([str(settings.bin_dir / "herald_queue_fill"), str(store), str(messages),
                    RECIPIENT], check=True, stdout=subprocess.DEVNULL,
                   timeout=fill_bound(messages))
    return time.monotonic() - start


def fill_postfix(instance, messages):
    """Postfix accepts and defers one message itself; the fill clones it."""
    instance.start()
    try:
        send_one(instance.port, RECIPIENT)
        queue = instance.work / "queue"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (_has_file(queue / "defer")
                                                   and _has_file(queue / "deferred")):
            time.sleep(0.1)
    finally:
        instance.stop()
    template = postfix_queue_fill.Template(instance.work / "queue")
    return postfix_queue_fill.fill(instance.work / "queue", template, messages)


def _has_file(directory):
    return any(path.is_file() for path in directory.rglob("*"))


def memory_now(server, root):
    """herald: VmRSS and VmHWM of heraldd. Postfix: ΣPSS of its processes (twice)."""
    if server == "herald":
        return process_stats.rss_kib(root) / 1024, process_stats.peak_rss_kib(root) / 1024
    return process_stats.tree_pss_kib(root) / 1024, None


def measure(server, messages, round_number, settings, base, live):
    """One run on a scratch file system of its own (bench/lib/scratch_fs.py), or in the
    work directory if none can be mounted here."""
    directory = base / f"{server}-r{round_number}"
    scratch = ScratchFilesystem(directory, keep=settings.keep)
    try:
        root = scratch.__enter__()
    except (subprocess.SubprocessError, OSError) as error:
        print(f"warning: no scratch file system ({error}); running in {directory}, whose "
              "removal may take long on a file system mounted with discard", flush=True)
        work = directory / "work"
        try:
            return measure_in(work, server, messages, round_number, settings, live)
        finally:
            if not settings.keep:
                shutil.rmtree(work, ignore_errors=True)
    try:
        return measure_in(root, server, messages, round_number, settings, live)
    finally:
        scratch.__exit__(None, None, None)


def measure_in(work, server, messages, round_number, settings, live):
    result = {"server": server, "round": round_number, "messages": messages, "status": "ok"}
    stub_port, port = free_port(), free_port()
    lifetime = fill_bound(messages) + 6 * bound(messages) + 600  # outlives the run
    stub = StubMx(work / "stub", stub_port, "down", lifetime=lifetime)
    routes = {"down.test": stub.address}
    if server == "postfix":
        instance = PostfixInstance(work / "server", port, routes=routes)
    else:
        instance = HeraldInstance(work / "server", port, settings.bin_dir, routes=routes)
    live.extend([stub, instance])
    try:
        stub.start()
        if server == "postfix":
            result["fill_s"] = fill_postfix(instance, messages)
        else:
            result["fill_s"] = fill_herald(instance, settings, messages)
        print(f"{server:8} round {round_number}: filled {messages:,} in "
              f"{result['fill_s']:.1f} s", flush=True)

        started = time.monotonic()
        instance.start(timeout=bound(messages))
        result["cold_greeting_s"] = time.monotonic() - started
        time.sleep(SETTLE_SECONDS)
        instance.kill()
        stub.stop()
        stub.start()  # a fresh counter: its first connection is the restarted server's

        started, started_wall = time.monotonic(), time.time()
        root_of = (lambda: instance.master_pid) if server == "postfix" else (lambda: instance.pid)
        if server == "postfix":
            instance.launch(timeout=bound(messages))
        else:
            instance.launch()
        with process_stats.MemorySampler(root_of()) as sampler:
            greeted, accepted, error = first_accept(port, RECIPIENT, started, instance.running,
                                                    bound(messages))
            result.update(greeting_s=greeted, accept_s=accepted, before_250=error or "")
            if accepted is None:
                result["status"] = f"no 250 within {bound(messages):.0f} s: {error}"
            time.sleep(max(0.0, started + 30 - time.monotonic()))
            result["rss_mib"], result["hwm_mib"] = memory_now(server, root_of())
        if server == "postfix":
            result["hwm_mib"] = sampler.peak_pss_kib / 1024
        first = stub.status()["first"]
        result["first_attempt_s"] = first - started_wall if first else None

        if server == "postfix":
            lister = ["/usr/sbin/postqueue", "-c", str(instance.conf), "-p"]
            entry = POSTFIX_ENTRY
        else:
            lister = [str(settings.bin_dir / "herald"), "--config", str(instance.config),
                      "queue", "list", "--limit", str(LISTED)]
            entry = HERALD_ENTRY
        result["list_s"], ids, code = timed_listing(lister, entry, LISTED, bound(messages))
        if len(ids) < LISTED or code not in (0, None):
            result["status"] = f"listing showed {len(ids)} message(s), exit {code}"
        if ids:
            if server == "postfix":
                shower = ["/usr/sbin/postcat", "-c", str(instance.conf), "-q", ids[0]]
            else:
                shower = [str(settings.bin_dir / "herald"), "--config", str(instance.config),
                          "queue", "show", ids[0]]
            result["show_s"], code = timed_run(shower, bound(messages))
            if code != 0:
                result["status"] = f"showing {ids[0]} exited {code}"
        return result
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        result["status"] = f"failed: {error}"
        return result
    finally:
        instance.stop()
        stub.stop()
        live.remove(instance)
        live.remove(stub)


METRICS = [  # (label, key, digits); the fill is a fixture, made differently on each side
    ("fill (fixture, s)", "fill_s", 1),
    ("cold start: first greeting (s)", "cold_greeting_s", 1),
    ("restart: first greeting (s)", "greeting_s", 2),
    ("restart: first 250 for a new message (s)", "accept_s", 2),
    ("restart: first attempt to the down destination (s)", "first_attempt_s", 2),
    ("memory 30 s after restart (MiB)", "rss_mib", 1),
    ("peak memory by then (MiB)", "hwm_mib", 1),
    (f"list {LISTED} queued messages (s)", "list_s", 2),
    ("show one message (s)", "show_s", 3),
]


def median_of(runs, server, key):
    values = sorted(r.get(key) for r in runs if r["server"] == server)
    if not values or any(v is None for v in values):
        return None
    return values[len(values) // 2] if len(values) % 2 else (
        values[len(values) // 2 - 1] + values[len(values) // 2]) / 2


def summary_table(runs, counts):
    lines = [f"| | Postfix ({counts.get('postfix', 0):,} queued) "
             f"| herald ({counts.get('herald', 0):,} queued) | herald/Postfix |",
             "|---|---|---|---|"]
    for label, key, digits in METRICS:
        p, h = median_of(runs, "postfix", key), median_of(runs, "herald", key)
        ratio = ("—" if key == "fill_s" or p is None or h is None or p == 0
                 else f"{h / p:.2f}")
        lines.append(f"| {label} | {fmt(p, digits)} | {fmt(h, digits)} | {ratio} |")
    return "\n".join(lines)


def runs_table(runs):
    keys = [key for _, key, _ in METRICS]
    lines = ["| server | round | queued | status | " + " | ".join(keys)
             + " | refused after the greeting, before the 250 |",
             "|---|---|---|---|" + "---|" * (len(keys) + 1)]
    for r in runs:
        cells = [fmt(r.get(key), digits) for _, key, digits in METRICS]
        status = r["status"].replace("|", "/")
        before = r.get("before_250", "").replace("|", "/") or "—"
        lines.append(f"| {r['server']} | {r['round']} | {r['messages']:,} | {status} | "
                     + " | ".join(cells) + f" | {before} |")
    return "\n".join(lines)


def write_markdown(runs, settings, counts, started):
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    path = settings.results_dir / f"queue-restart-{started:%Y-%m-%d}.md"
    path.write_text(f"""\
# Restart with a large queue: herald vs Postfix — {started:%Y-%m-%d %H:%M}

- Machine: {machine_description()}
- Software: {versions()}
- Queue: small messages (~600 octets) for rcpt@down.test, whose next hop (a stub on
  loopback) answers every connection with 421; all due for a retry at once. herald:
  {counts.get('herald', 0):,} committed by herald_queue_fill; Postfix:
  {counts.get('postfix', 0):,} copies of a message it deferred itself in its deferred queue
- File system: each run on a fresh loop-mounted ext4 image (bench/lib/scratch_fs.py)
- Sequence: fill, start, wait for the greeting, {SETTLE_SECONDS} s of work, SIGKILL, start
  again; times are from the second exec
- Memory: herald VmRSS (peak: VmHWM) of heraldd; Postfix ΣPSS of master and all its
  daemons (peak: sampled every 0.5 s)
- Listing: `herald queue list --limit {LISTED}`; Postfix `postqueue -p` read until its
  {LISTED}th entry (`mailq | head`). Showing one: `herald queue show ID`; `postcat -q ID`
- herald/Postfix: below 1, herald takes less time or memory
- How to read this: bench/README.md

## Medians over {settings.rounds} round(s)

{summary_table(runs, counts)}

## Every run

{runs_table(runs)}
""")
    return path


def describe(run):
    cells = ", ".join(f"{key} {fmt(run.get(key), digits)}" for _, key, digits in METRICS)
    return f"{run['server']:8} round {run['round']}: {run['status']}; {cells}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000,
                        help="queued messages (default 1,000,000)")
    parser.add_argument("--postfix-messages", type=int,
                        help="queued messages on the Postfix side (default: --messages)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "1")))
    args = parser.parse_args()
    settings = Settings(os.environ)
    settings.rounds = args.rounds
    check_can_run(settings)
    if "herald" in settings.servers and not (settings.bin_dir / "herald_queue_fill").exists():
        sys.exit(f"{settings.bin_dir}/herald_queue_fill not found: build the bench preset "
                 "(cmake --preset bench; cmake --build --preset bench)")
    counts = {"herald": args.messages, "postfix": args.postfix_messages or args.messages}
    counts = {server: counts[server] for server in settings.servers}
    started = datetime.datetime.now()
    base = pathlib.Path(tempfile.mkdtemp(prefix="herald-bench-queue-restart-"))
    os.chmod(base, 0o755)  # Postfix's daemons run unprivileged and must get in
    live = []

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    runs = []
    print(f"queue-restart: {counts}, {settings.rounds} round(s); work dir {base}", flush=True)
    try:
        for round_number in range(1, settings.rounds + 1):
            for server in settings.servers:
                run = measure(server, counts[server], round_number, settings, base, live)
                runs.append(run)
                print(describe(run), flush=True)
    finally:
        for process in list(live):
            process.stop()
        if not settings.keep:
            shutil.rmtree(base, ignore_errors=True)
    print()
    print(summary_table(runs, counts))
    print(f"\nwritten to {write_markdown(runs, settings, counts, started)}")
    bench_common.exit_if_unmeasured(runs, "server")


if __name__ == "__main__":
    main()
