"""Relay with two tarpit destinations present: herald against Postfix 3.7, side by side.

Each server in turn (A B A B ..., never both under load at once) is started fresh, with three
routed domains: sink.test to a fresh smtp-sink, and tarpit-a.test and tarpit-b.test each to a
stub MX on loopback that accepts TCP and never greets (bench/lib/stub_mx.py). Three
smtp-source processes start together:
    smtp-source -s S_sink -m N_sink ... -t rcpt@sink.test
    smtp-source -s S_tarpit -m N_tarpit ... -t rcpt@tarpit-a.test   (and tarpit-b.test)
with BENCH_TARPIT_SHARE (default 0.1) of the N messages, and of the S sessions (at least one
each), split evenly between the two tarpit domains. Measured: the end-to-end rate of the
sink messages (N_sink / time from the start of the load until the sink had them all), the
accept rate of all N, CPU seconds of the server's processes per 1000 messages accepted, peak
memory, and how many connections each server held open to the tarpits at most. A server
whose sink traffic stops for 30 s is reported incomplete with what reached the sink.

Both servers get the same per-destination limit and timeouts, written into their
configuration so the comparison does not rest on defaults (bench/README.md lists them).
Medians go to stdout and bench/results/relay-tarpit-DATE.md.
"""

import datetime
import math
import os
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))

from bench_common import (Settings, check_can_run, fmt, side_by_side_table,  # noqa: E402
                          machine_description, run_loads, run_rounds, versions,
                          wait_for_count)
from herald_instance import HeraldInstance  # noqa: E402
from loopback_ports import free_port  # noqa: E402
from postfix_instance import PostfixInstance  # noqa: E402
import process_stats  # noqa: E402
from relay_probe import log_tail, relay_refusal  # noqa: E402
from sink import SmtpSink  # noqa: E402
from stub_mx import StubMx  # noqa: E402

SINK_RECIPIENT = "rcpt@sink.test"
TARPIT_DOMAINS = ("tarpit-a.test", "tarpit-b.test")

# The same limits and timeouts on both sides (and Postfix's defaults, stated explicitly):
# 20 concurrent connections per destination, 30 s to connect, 300 s for the greeting.
HERALD_SETTINGS = """
[queue]
max_connections_per_destination = 20

[outbound]
connect_timeout = "30s"
command_timeout = "5m"
"""
POSTFIX_SETTINGS = """\
default_destination_concurrency_limit = 20
smtp_connect_timeout = 30s
smtp_helo_timeout = 300s
"""


def split(settings, sessions):
    """[(sessions, messages, recipient)]: the sink's share and each tarpit domain's."""
    share = float(os.environ.get("BENCH_TARPIT_SHARE", "0.1"))
    tarpit_messages = round(settings.messages * share / len(TARPIT_DOMAINS))
    tarpit_sessions = max(1, math.ceil(sessions * share / len(TARPIT_DOMAINS)))
    sink_messages = settings.messages - tarpit_messages * len(TARPIT_DOMAINS)
    sink_sessions = max(1, sessions - tarpit_sessions * len(TARPIT_DOMAINS))
    loads = [(sink_sessions, sink_messages, SINK_RECIPIENT)]
    if tarpit_messages:
        loads += [(tarpit_sessions, tarpit_messages, f"rcpt@{domain}")
                  for domain in TARPIT_DOMAINS]
    return loads


def measure(server, sessions, round_number, settings, base, live):
    work = base / f"{server}-s{sessions}-r{round_number}"
    loads = split(settings, sessions)
    sink_messages = loads[0][1]
    result = {"server": server, "sessions": sessions, "round": round_number, "status": "ok",
              "accept_rate": None, "e2e_rate": None, "cpu_per_1000": None, "peak_mib": None,
              "received": 0, "sink_messages": sink_messages, "tarpit_held": None,
              "exit_code": None, "complaints": []}
    # Bounded: the stubs outlive the longest a run can take, then exit by themselves.
    lifetime = max(120.0, settings.messages / 20) + settings.delivery_timeout + 120
    sink = SmtpSink(work / "sink", free_port())
    tarpits = [StubMx(work / "tarpits", free_port(), "tarpit", lifetime) for _ in TARPIT_DOMAINS]
    routes = {"sink.test": sink.address}
    routes.update({d: t.address for d, t in zip(TARPIT_DOMAINS, tarpits)})
    port = free_port()
    if server == "postfix":
        instance = PostfixInstance(work / "server", port, routes=routes, extra_cf=POSTFIX_SETTINGS)
    else:
        instance = HeraldInstance(work / "server", port, settings.bin_dir, routes=routes,
                                  extra=HERALD_SETTINGS)
    helpers = [sink, *tarpits]
    live.extend([*helpers, instance])
    try:
        for helper in helpers:
            helper.start()
        try:
            instance.start()
        except RuntimeError as error:
            log = work / "server" / ("heraldd.log" if server == "herald" else "maillog")
            result["status"] = f"did not start: {error}; log: {log_tail(log)}"
            return result
        refusal = relay_refusal(port, SINK_RECIPIENT) or relay_refusal(
            port, f"rcpt@{TARPIT_DOMAINS[0]}")
        if refusal:
            result["status"] = f"refuses relay: {refusal}"
            return result
        root = instance.master_pid if server == "postfix" else instance.pid
        cpu_before = process_stats.cpu_seconds(root)
        with process_stats.MemorySampler(root) as memory:
            start, wall, exit_code, complaints = run_loads(port, settings, loads)
            received = wait_for_count(sink.completed, sink_messages, settings.delivery_timeout)
            cpu = process_stats.cpu_seconds(root) - cpu_before
            peak_rss = process_stats.peak_rss_kib(root)
        complete = received >= sink_messages
        result.update({
            "status": "ok" if complete else "incomplete",
            "accept_rate": settings.messages / wall,
            "e2e_rate": sink_messages / (sink.last_arrival() - start) if complete else None,
            "cpu_per_1000": cpu / settings.messages * 1000,
            "peak_mib": (peak_rss if server == "herald" else memory.peak_pss_kib) / 1024,
            "received": received, "exit_code": exit_code, "complaints": complaints,
        })
        return result
    finally:
        instance.stop()
        for helper in helpers:
            helper.stop()
        if result["accept_rate"] is not None:  # a stopped stub's counters are final
            result["tarpit_held"] = "/".join(str(t.status()["peak_held"]) for t in tarpits)
        live.remove(instance)
        for helper in helpers:
            live.remove(helper)
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
    return (head + f"accept {run['accept_rate']:7.0f} msg/s  sink end to end {e2e} msg/s  "
            f"cpu {run['cpu_per_1000']:5.2f} s/1000  peak {run['peak_mib']:6.1f} MiB  "
            f"at the sink {run['received']}/{run['sink_messages']}  "
            f"tarpit connections held (a/b) {run['tarpit_held']}{note}")


def summary_table(runs, settings):
    return side_by_side_table(runs, settings.sessions, [("sink end-to-end", "e2e_rate"), ("accept", "accept_rate")])


def runs_table(runs):
    lines = ["| server | sessions | round | status | accept msg/s | sink end-to-end msg/s "
             "| CPU s/1000 | peak MiB | at the sink | tarpit connections held (a/b) "
             "| smtp-source complaints |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        status = r["status"].replace("|", "/")
        lines.append(
            f"| {r['server']} | {r['sessions']} | {r['round']} | {status} "
            f"| {fmt(r['accept_rate'])} | {fmt(r['e2e_rate'])} | {fmt(r['cpu_per_1000'], 2)} "
            f"| {fmt(r['peak_mib'], 1)} | {r['received']}/{r['sink_messages']} "
            f"| {r['tarpit_held'] or '—'} | {len(r['complaints'])} |")
    return "\n".join(lines)


def write_markdown(runs, settings, started):
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    path = settings.results_dir / f"relay-tarpit-{started:%Y-%m-%d}.md"
    loads = "; ".join(f"{count} to {rcpt} over {s} session(s)"
                      for s, count, rcpt in split(settings, settings.sessions[-1]))
    path.write_text(f"""\
# Relay with two tarpit destinations: herald vs Postfix — {started:%Y-%m-%d %H:%M}

- Machine: {machine_description()}
- Software: {versions()}
- Load: three `smtp-source -l {settings.size}` started together, one connection per
  message, loopback, from a trusted network; at {settings.sessions[-1]} sessions: {loads}
- Next hops: `smtp-sink` for sink.test; for tarpit-a.test and tarpit-b.test a stub that
  accepts TCP and never greets (bench/lib/stub_mx.py); one of each per run
- Both servers: 20 connections per destination, connect timeout 30 s, greeting timeout
  300 s (herald `[queue] max_connections_per_destination`, `[outbound] connect_timeout`,
  `command_timeout`; Postfix `default_destination_concurrency_limit`,
  `smtp_connect_timeout`, `smtp_helo_timeout`); other settings as in smtp-relay
- Order: A B A B (Postfix then herald for each session count), {settings.rounds} round(s);
  figures are medians over the rounds; "—" where a server refused, did not start or did
  not get every sink message through (see the status column below).
- How to read this: bench/README.md

## Medians

{summary_table(runs, settings)}

Sink end to end: the sink messages ÷ the time from the start of the load until the sink
had received the last of them. Accept: all messages (sink and tarpit) ÷ the wall time of
the three smtp-source runs. CPU: user + system seconds of all the server's processes, from
before the load until the last sink message arrived, per 1000 messages accepted. Memory:
herald = VmHWM of heraldd; Postfix = peak of the summed PSS of master and all its daemons.

## Every run

{runs_table(runs)}
""")
    return path


def main():
    settings = Settings(os.environ, sessions="50")
    check_can_run(settings)
    started = datetime.datetime.now()
    runs = run_rounds("relay-tarpit", settings, measure, describe)
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
