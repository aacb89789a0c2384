"""Memory with much DATA in flight: herald against Postfix 3.7, side by side in one run.

S sessions (default 100) each send one message of B MiB (default 10) to alice@example.test
from loopback, all in the middle of DATA at once (bench/data-in-flight/inflight_client.py:
every body is sent, then every session waits before its final dot until all have got there).
Each case in turn (never two at once) is a fresh server:
- Postfix, with message_size_limit (and virtual_mailbox_limit, which may not be smaller)
  raised to herald's default max_message_size, 50 MiB; otherwise as in smtp-accept;
- herald with its defaults: DATA streams into the store a 256 KiB piece at a time, so each
  session holds its header and one piece, charged to `[limits] max_bytes_in_flight`
  (256 MiB), and the whole load is admitted (issue 8's aim: peak RSS under 400 MiB with
  1 GiB in flight).
Measured: how many sessions got `250` (and how many were refused, at DATA or after the
dot), the server's memory while everything is held in flight (the highest of samples every
0.25 s for 2 s), right after the last reply, and its peak over the whole load. herald:
VmRSS and VmHWM of heraldd; Postfix: ΣPSS of master and every daemon (smtpd, cleanup, ...).
Medians over the rounds go to stdout and bench/results/data-in-flight-DATE.md.
"""

import argparse
import asyncio
import datetime
import os
import pathlib
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import bench_common  # noqa: E402
from bench_common import (Settings, check_can_run, fmt, machine_description,  # noqa: E402
                          versions)
from herald_instance import HeraldInstance  # noqa: E402
import inflight_client  # noqa: E402
from loopback_ports import free_port  # noqa: E402
from postfix_instance import PostfixInstance  # noqa: E402
import process_stats  # noqa: E402

RECIPIENT = "alice@example.test"
MIB = 1024 * 1024
HOLD_SECONDS = 2.0
POSTFIX_CF = """\
message_size_limit = 52428800
virtual_mailbox_limit = 52428800
"""
# (name, server, extra [limits] keys for herald)
CASES = [
    ("Postfix", "postfix", None),
    ("herald (defaults)", "herald", ""),
]


def memory_mib(server, root):
    if server == "herald":
        return process_stats.rss_kib(root) / 1024
    return process_stats.tree_pss_kib(root) / 1024


def measure(case, args, round_number, settings, base, live):
    name, server, limits = case
    work = base / f"{server}-{CASES.index(case)}-r{round_number}"
    port = free_port()
    if server == "postfix":
        instance = PostfixInstance(work, port, extra_cf=POSTFIX_CF)
    else:
        instance = HeraldInstance(work, port, settings.bin_dir, limits=limits)
    result = {"case": name, "round": round_number, "status": "ok"}
    live.append(instance)
    try:
        instance.start()
        root = instance.master_pid if server == "postfix" else instance.pid
        held = []

        def while_held():
            deadline = time.monotonic() + HOLD_SECONDS
            while time.monotonic() < deadline:
                held.append(memory_mib(server, root))
                time.sleep(0.25)

        with process_stats.MemorySampler(root, interval=0.25) as sampler:
            outcomes, send_s, finish_s = asyncio.run(inflight_client.run(
                port, args.sessions, args.message_mib * MIB, RECIPIENT, while_held))
            result["after_mib"] = memory_mib(server, root)
            if server == "herald":
                result["peak_mib"] = process_stats.peak_rss_kib(root) / 1024
        if server == "postfix":
            result["peak_mib"] = sampler.peak_pss_kib / 1024
        result["held_mib"] = max(held) if held else None
        result["accepted"] = sum(o.accepted for o in outcomes)
        result["refused_at_data"] = sum(o.data_reply is not None and
                                        not o.data_reply.startswith("354") for o in outcomes)
        result["refused_at_end"] = sum(o.final_reply is not None and not o.accepted
                                       for o in outcomes)
        failed = [o for o in outcomes if o.error]
        result["failed"] = len(failed)
        result["send_s"], result["finish_s"] = send_s, finish_s
        result["in_flight_mib"] = sum(o.sent_body for o in outcomes) / MIB
        replies = sorted({o.data_reply for o in outcomes if o.data_reply
                          and not o.data_reply.startswith("354")}
                         | {o.final_reply for o in outcomes if o.final_reply
                            and not o.accepted})
        errors = sorted({f"{o.stage}: {o.error}" for o in failed})
        result["notes"] = "; ".join((replies + errors)[:4])
        if failed:
            result["status"] = f"{len(failed)} session(s) failed"
        return result
    except (RuntimeError, OSError, asyncio.TimeoutError) as error:
        result["status"] = f"failed: {type(error).__name__}: {error}"
        return result
    finally:
        instance.stop()
        live.remove(instance)
        if not settings.keep:
            shutil.rmtree(work, ignore_errors=True)


def median_of(runs, name, key):
    values = sorted(r.get(key) for r in runs if r["case"] == name)
    if not values or any(v is None for v in values):
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def summary_table(runs, args):
    lines = [f"| case | sessions with 250 (of {args.sessions}) | refused at DATA "
             "| refused after the dot | MiB of body sent, held before the dot "
             "| memory in flight MiB | herald/Postfix | at end of data MiB | peak MiB "
             "| herald/Postfix |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    postfix = {key: median_of(runs, "Postfix", key) for key in ("held_mib", "peak_mib")}
    for name, _, _ in CASES:
        m = {key: median_of(runs, name, key)
             for key in ("accepted", "refused_at_data", "refused_at_end", "in_flight_mib",
                         "held_mib", "after_mib", "peak_mib")}
        if all(v is None for v in m.values()):
            continue

        def ratio(key):
            if name == "Postfix" or m[key] is None or not postfix[key]:
                return "—"
            return f"{m[key] / postfix[key]:.2f}"

        lines.append(f"| {name} | {fmt(m['accepted'])} | {fmt(m['refused_at_data'])} "
                     f"| {fmt(m['refused_at_end'])} | {fmt(m['in_flight_mib'])} "
                     f"| {fmt(m['held_mib'], 1)} | {ratio('held_mib')} "
                     f"| {fmt(m['after_mib'], 1)} | {fmt(m['peak_mib'], 1)} "
                     f"| {ratio('peak_mib')} |")
    return "\n".join(lines)


def runs_table(runs):
    lines = ["| case | round | status | 250 | refused at DATA / after dot | failed "
             "| in flight MiB | held MiB | after MiB | peak MiB | send s | finish s "
             "| refusals and errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r['case']} | {r['round']} | {r['status'].replace('|', '/')} "
            f"| {fmt(r.get('accepted'))} "
            f"| {fmt(r.get('refused_at_data'))} / {fmt(r.get('refused_at_end'))} "
            f"| {fmt(r.get('failed'))} | {fmt(r.get('in_flight_mib'))} "
            f"| {fmt(r.get('held_mib'), 1)} | {fmt(r.get('after_mib'), 1)} "
            f"| {fmt(r.get('peak_mib'), 1)} | {fmt(r.get('send_s'), 1)} "
            f"| {fmt(r.get('finish_s'), 1)} | {r.get('notes', '').replace('|', '/')} |")
    return "\n".join(lines)


def write_markdown(runs, args, settings, started):
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    path = settings.results_dir / f"data-in-flight-{started:%Y-%m-%d}.md"
    path.write_text(f"""\
# Memory with DATA in flight: herald vs Postfix — {started:%Y-%m-%d %H:%M}

- Machine: {machine_description()}
- Software: {versions()}
- Load: {args.sessions} sessions × {args.message_mib} MiB of body to {RECIPIENT}, loopback;
  every body sent, then every session holds before its final dot until all have got there
  ({args.sessions * args.message_mib:,} MiB in flight if all are admitted)
- Postfix: message_size_limit and virtual_mailbox_limit 50 MiB, otherwise as in
  smtp-accept. herald: defaults (max_message_size 50 MiB, max_bytes_in_flight 256 MiB)
- Memory: herald VmRSS of heraldd (peak: VmHWM); Postfix ΣPSS of master and all its
  daemons (peak: sampled every 0.25 s). "In flight": the highest sample during the
  {HOLD_SECONDS:.0f} s hold; "at end of data": right after the last reply
- herald/Postfix: below 1, herald uses less memory
- How to read this: bench/README.md

## Medians over {settings.rounds} round(s)

{summary_table(runs, args)}

## Every run

{runs_table(runs)}
""")
    return path


def describe(run):
    return (f"{run['case']:34} round {run['round']}: {run['status']}; 250 "
            f"{fmt(run.get('accepted'))}, refused {fmt(run.get('refused_at_data'))} at DATA "
            f"/ {fmt(run.get('refused_at_end'))} after the dot, held "
            f"{fmt(run.get('held_mib'), 1)} MiB, after {fmt(run.get('after_mib'), 1)} MiB, "
            f"peak {fmt(run.get('peak_mib'), 1)} MiB; {run.get('notes', '')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--message-mib", type=int, default=10, help="MiB of body per session")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "1")))
    args = parser.parse_args()
    settings = Settings(os.environ)
    settings.rounds = args.rounds
    check_can_run(settings)
    cases = [case for case in CASES if case[1] in settings.servers]
    started = datetime.datetime.now()
    base = pathlib.Path(tempfile.mkdtemp(prefix="herald-bench-data-in-flight-"))
    os.chmod(base, 0o755)  # Postfix's daemons run unprivileged and must get in
    live = []

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    runs = []
    print(f"data-in-flight: {args.sessions} sessions × {args.message_mib} MiB, "
          f"{settings.rounds} round(s); work dir {base}", flush=True)
    try:
        for round_number in range(1, settings.rounds + 1):
            for case in cases:
                run = measure(case, args, round_number, settings, base, live)
                runs.append(run)
                print(describe(run), flush=True)
    finally:
        for process in list(live):
            process.stop()
        if not settings.keep:
            shutil.rmtree(base, ignore_errors=True)
    print()
    print(summary_table(runs, args))
    print(f"\nwritten to {write_markdown(runs, args, settings, started)}")
    bench_common.exit_if_unmeasured(runs, "case")


if __name__ == "__main__":
    main()
