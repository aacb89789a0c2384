"""SMTP accept benchmark: herald against Postfix 3.7, side by side in one run.

For each session count S, each server in turn (A B A B ..., never both under load at once)
is started fresh on a free loopback port and given
    smtp-source -s S -m N -l SIZE -f src@bench.test -t alice@example.test 127.0.0.1:PORT
Measured per run: accept rate (N / smtp-source wall time; every 250 means "on disk"),
end-to-end rate (N / time until the last message is in alice's Maildir/new), CPU seconds
of all the server's processes per 1000 messages (from before the load until the last
delivery), and peak memory. Medians over the rounds are printed and written as markdown to
bench/results/smtp-accept-DATE.md. bench/README.md explains how to read them.
Settings come from the environment; see bench/README.md.
"""

import datetime
import os
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))

from bench_common import (Settings, check_can_run, fmt, side_by_side_table, last_arrival,  # noqa: E402
                          machine_description, run_load, run_rounds, versions,
                          wait_for_delivery)
from herald_instance import HeraldInstance  # noqa: E402
from loopback_ports import free_port  # noqa: E402
from postfix_instance import PostfixInstance  # noqa: E402
import process_stats  # noqa: E402

RECIPIENT = "alice@example.test"


def measure(server, sessions, round_number, settings, base, live):
    work = base / f"{server}-s{sessions}-r{round_number}"
    port = free_port()
    if server == "postfix":
        instance = PostfixInstance(work, port)
    else:
        instance = HeraldInstance(work, port, settings.bin_dir)
    live.append(instance)
    try:
        instance.start()
        root = instance.master_pid if server == "postfix" else instance.pid
        cpu_before = process_stats.cpu_seconds(root)
        with process_stats.MemorySampler(root) as memory:
            start, wall, exit_code, complaints = run_load(port, settings, sessions, RECIPIENT)
            delivered = wait_for_delivery(instance.maildir_new, settings.messages,
                                          settings.delivery_timeout)
            cpu = process_stats.cpu_seconds(root) - cpu_before
            peak_rss = process_stats.peak_rss_kib(root)
        complete = delivered >= settings.messages
        end_to_end = last_arrival(instance.maildir_new) - start if complete else None
        return {
            "server": server, "sessions": sessions, "round": round_number,
            "accept_rate": settings.messages / wall,
            "e2e_rate": settings.messages / end_to_end if end_to_end else None,
            "cpu_per_1000": cpu / settings.messages * 1000,
            # herald is one process: its own high-water mark. Postfix is a tree of
            # processes: the peak of their summed PSS (shared pages counted once).
            "peak_mib": (peak_rss if server == "herald" else memory.peak_pss_kib) / 1024,
            "peak_sum_rss_mib": memory.peak_rss_kib / 1024,
            "delivered": delivered, "exit_code": exit_code, "complaints": complaints,
        }
    finally:
        instance.stop()
        live.remove(instance)
        if not settings.keep:
            shutil.rmtree(work, ignore_errors=True)


def describe(run):
    e2e = f"{run['e2e_rate']:7.0f}" if run["e2e_rate"] else "incomplete"
    note = ""
    if run["complaints"] or run["exit_code"]:
        note = f"  smtp-source exit {run['exit_code']}, {len(run['complaints'])} complaint(s): "
        note += "; ".join(run["complaints"][:3])
    return (f"{run['server']:8} s={run['sessions']:<3} round {run['round']}: "
            f"accept {run['accept_rate']:7.0f} msg/s  to mailbox {e2e} msg/s  "
            f"cpu {run['cpu_per_1000']:5.2f} s/1000  peak {run['peak_mib']:6.1f} MiB  "
            f"delivered {run['delivered']}{note}")


def summary_table(runs, settings):
    return side_by_side_table(runs, settings.sessions, [("accept", "accept_rate"), ("to-mailbox", "e2e_rate")])


def runs_table(runs):
    lines = ["| server | sessions | round | accept msg/s | to-mailbox msg/s | CPU s/1000 "
             "| peak MiB | peak ΣRSS MiB | delivered | smtp-source complaints |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(
            f"| {r['server']} | {r['sessions']} | {r['round']} | {fmt(r['accept_rate'])} "
            f"| {fmt(r['e2e_rate'])} | {fmt(r['cpu_per_1000'], 2)} | {fmt(r['peak_mib'], 1)} "
            f"| {fmt(r['peak_sum_rss_mib'], 1)} | {r['delivered']} | {len(r['complaints'])} |")
    return "\n".join(lines)


def write_markdown(runs, settings, started):
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    path = settings.results_dir / f"smtp-accept-{started:%Y-%m-%d}.md"
    path.write_text(f"""\
# SMTP accept: herald vs Postfix — {started:%Y-%m-%d %H:%M}

- Machine: {machine_description()}
- Software: {versions()}
- Load: `smtp-source -s S -m {settings.messages} -l {settings.size} -f src@bench.test \
-t alice@example.test`, one connection per message, loopback
- Order: A B A B (Postfix then herald for each session count), {settings.rounds} round(s);
  figures are medians over the rounds. Both deliver to a Maildir (Postfix: virtual(8)).
- How to read this: bench/README.md

## Medians

{summary_table(runs, settings)}

CPU: user + system seconds of all the server's processes, from before the load until the
last message is in the Maildir, per 1000 messages. Memory: herald = VmHWM of heraldd;
Postfix = peak of the summed PSS of master and all its daemons, sampled every 0.5 s (the
summed RSS, which counts shared pages once per process, is in the table below).

## Every run

{runs_table(runs)}
""")
    return path


def main():
    settings = Settings(os.environ)
    check_can_run(settings)
    started = datetime.datetime.now()
    runs = run_rounds("smtp-accept", settings, measure, describe)
    print()
    print(summary_table(runs, settings))
    print(f"\nwritten to {write_markdown(runs, settings, started)}")


if __name__ == "__main__":
    main()
