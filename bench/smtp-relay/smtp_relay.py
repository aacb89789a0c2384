"""SMTP relay benchmark: herald against Postfix 3.7, side by side in one run.

For each session count S, each server in turn (A B A B ..., never both under load at once)
is started fresh on a free loopback port, with a fresh smtp-sink as its only next hop, and
given
    smtp-source -s S -m N -l SIZE -f src@bench.test -t rcpt@sink.test 127.0.0.1:PORT
The client is on 127.0.0.0/8, which both servers trust to relay (Postfix mynetworks, herald
[server] trusted_networks); mail for sink.test goes to the sink (Postfix transport_maps,
herald [[route]]). Measured per run: accept rate (N / smtp-source wall time), end-to-end
rate (N / time from the start of the load until the sink has received message N), CPU
seconds of the server's processes per 1000 messages, and peak memory. Before the load, one
probe transaction checks that the server takes mail for sink.test at all: a server that
refuses (herald before outbound relay exists answers 554 or 451) is reported as refusing,
not measured. Medians go to stdout and bench/results/smtp-relay-DATE.md.
"""

import datetime
import os
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))

from bench_common import (Settings, check_can_run, fmt, side_by_side_table,  # noqa: E402
                          machine_description, run_load, run_rounds, versions,
                          wait_for_count)
from herald_instance import HeraldInstance  # noqa: E402
from loopback_ports import free_port  # noqa: E402
from postfix_instance import PostfixInstance  # noqa: E402
import process_stats  # noqa: E402
from relay_probe import log_tail, relay_refusal  # noqa: E402
from sink import SmtpSink  # noqa: E402

RECIPIENT = "rcpt@sink.test"


def measure(server, sessions, round_number, settings, base, live):
    work = base / f"{server}-s{sessions}-r{round_number}"
    result = {"server": server, "sessions": sessions, "round": round_number, "status": "ok",
              "accept_rate": None, "e2e_rate": None, "cpu_per_1000": None, "peak_mib": None,
              "peak_sum_rss_mib": None, "received": 0, "exit_code": None, "complaints": []}
    sink = SmtpSink(work / "sink", free_port())
    port = free_port()
    if server == "postfix":
        instance = PostfixInstance(work / "server", port, relay_to=sink.address)
    else:
        instance = HeraldInstance(work / "server", port, settings.bin_dir, relay_to=sink.address)
    live.extend([sink, instance])
    try:
        sink.start()
        try:
            instance.start()
        except RuntimeError as error:
            log = work / "server" / ("heraldd.log" if server == "herald" else "maillog")
            result["status"] = f"did not start: {error}; log: {log_tail(log)}"
            return result
        refusal = relay_refusal(port, RECIPIENT)
        if refusal:
            result["status"] = f"refuses relay: {refusal}"
            return result
        root = instance.master_pid if server == "postfix" else instance.pid
        cpu_before = process_stats.cpu_seconds(root)
        with process_stats.MemorySampler(root) as memory:
            start, wall, exit_code, complaints = run_load(port, settings, sessions, RECIPIENT)
            received = wait_for_count(sink.completed, settings.messages,
                                      settings.delivery_timeout)
            cpu = process_stats.cpu_seconds(root) - cpu_before
            peak_rss = process_stats.peak_rss_kib(root)
        complete = received >= settings.messages
        result.update({
            "status": "ok" if complete else "incomplete",
            "accept_rate": settings.messages / wall,
            "e2e_rate": settings.messages / (sink.last_arrival() - start) if complete else None,
            "cpu_per_1000": cpu / settings.messages * 1000,
            "peak_mib": (peak_rss if server == "herald" else memory.peak_pss_kib) / 1024,
            "peak_sum_rss_mib": memory.peak_rss_kib / 1024,
            "received": received, "exit_code": exit_code, "complaints": complaints,
        })
        return result
    finally:
        instance.stop()
        sink.stop()
        live.remove(instance)
        live.remove(sink)
        if not settings.keep:
            shutil.rmtree(work, ignore_errors=True)


def describe(run):
    head = f"{run['server']:8} s={run['sessions']:<3} round {run['round']}: "
    if run["accept_rate"] is None:
        return head + "NOT MEASURED: " + run["status"]
    e2e = f"{run['e2e_rate']:7.0f}" if run["e2e_rate"] else "incomplete"
    note = ""
    if run["complaints"] or run["exit_code"]:
        note = f"  smtp-source exit {run['exit_code']}, {len(run['complaints'])} complaint(s): "
        note += "; ".join(run["complaints"][:3])
    return (head + f"accept {run['accept_rate']:7.0f} msg/s  end to end {e2e} msg/s  "
            f"cpu {run['cpu_per_1000']:5.2f} s/1000  peak {run['peak_mib']:6.1f} MiB  "
            f"at the sink {run['received']}{note}")


def summary_table(runs, settings):
    return side_by_side_table(runs, settings.sessions, [("end-to-end", "e2e_rate"), ("accept", "accept_rate")],
                              cpu_ratio=True)


def runs_table(runs):
    lines = ["| server | sessions | round | status | accept msg/s | end-to-end msg/s "
             "| CPU s/1000 | peak MiB | peak ΣRSS MiB | at the sink | smtp-source complaints |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        status = r["status"].replace("|", "/")
        lines.append(
            f"| {r['server']} | {r['sessions']} | {r['round']} | {status} "
            f"| {fmt(r['accept_rate'])} | {fmt(r['e2e_rate'])} | {fmt(r['cpu_per_1000'], 2)} "
            f"| {fmt(r['peak_mib'], 1)} | {fmt(r['peak_sum_rss_mib'], 1)} | {r['received']} "
            f"| {len(r['complaints'])} |")
    return "\n".join(lines)


def write_markdown(runs, settings, started):
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    path = settings.results_dir / f"smtp-relay-{started:%Y-%m-%d}.md"
    path.write_text(f"""\
# SMTP relay: herald vs Postfix — {started:%Y-%m-%d %H:%M}

- Machine: {machine_description()}
- Software: {versions()}
- Load: `smtp-source -s S -m {settings.messages} -l {settings.size} -f src@bench.test \
-t {RECIPIENT}`, one connection per message, loopback, from a trusted network
- Next hop: `smtp-sink` on loopback (one per run), the servers' only route for sink.test
- Order: A B A B (Postfix then herald for each session count), {settings.rounds} round(s);
  figures are medians over the rounds; "—" where a server refused, did not start or did
  not deliver everything (see the status column below).
- How to read this: bench/README.md

## Medians

{summary_table(runs, settings)}

End to end: N ÷ the time from the start of the load until the sink had received message N.
CPU: user + system seconds of all the server's processes (not the sink's), from before the
load until the last message reached the sink, per 1000 messages. Memory: herald = VmHWM of
heraldd; Postfix = peak of the summed PSS of master and all its daemons, sampled every 0.5 s.

## Every run

{runs_table(runs)}
""")
    return path


def main():
    settings = Settings(os.environ)
    check_can_run(settings)
    started = datetime.datetime.now()
    runs = run_rounds("smtp-relay", settings, measure, describe)
    print()
    print(summary_table(runs, settings))
    print(f"\nwritten to {write_markdown(runs, settings, started)}")
    failed = [r for r in runs if r["status"] != "ok"]
    if failed:
        print(f"\n{len(failed)} run(s) not measured or incomplete:", file=sys.stderr)
        for r in failed:
            print(f"  {r['server']} s={r['sessions']} round {r['round']}: {r['status']}",
                  file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
