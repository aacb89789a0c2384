"""The MQTT benchmark's tables: the medians side by side with herald/Mosquitto ratios, every
run, and the results file bench/results/mqtt-DATE.md."""

import statistics

from bench_common import fmt, machine_description, versions
from scenarios import SCENARIOS

# (label, scenario, figure, digits, lower is better)
ROWS = [
    ("QoS 0 throughput, msg/s", "qos0", "rate", 0, False),
    ("QoS 1 throughput, msg/s", "qos1", "rate", 0, False),
    ("QoS 1 to a persistent session, msg/s", "persistent", "rate", 0, False),
    ("latency QoS 0 p50, µs", "latency0", "p50", 0, True),
    ("latency QoS 0 p99, µs", "latency0", "p99", 0, True),
    ("latency QoS 1 p50, µs", "latency1", "p50", 0, True),
    ("latency QoS 1 p99, µs", "latency1", "p99", 0, True),
    ("fan-out 1 → {subscribers}, deliveries/s", "fanout", "rate", 0, False),
    ("RSS with {connections:,} idle connections, MiB", "idle", "held_rss_mib", 1, True),
    ("RSS per 1,000 idle connections, MiB", "idle", "rss_per_1000", 2, True),
]
NAMES = {"mosquitto": "Mosquitto", "herald": "herald"}


def median(runs, server, scenario, key):
    values = [r.get(key) for r in runs
              if r["server"] == server and r["scenario"] == scenario and r["status"] == "ok"]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cpu_per_1000(run):
    """Server CPU seconds per 1,000 messages delivered (idle: per 1,000 connections)."""
    count = run.get("count")
    if run.get("cpu_s") is None or not count:
        return None
    return run["cpu_s"] / (count / 1000)


def delivered(runs, server, scenario):
    mine = [r for r in runs if r["server"] == server and r["scenario"] == scenario]
    if not mine or all(r.get("count") is None for r in mine):
        return "—"
    counts = [r.get("count") or 0 for r in mine]
    return f"{fmt(statistics.median(counts))} of {fmt(mine[0].get('expected'))}"


def summary_table(runs, args):
    for r in runs:
        r["cpu_per_1000"] = cpu_per_1000(r)
    header = ("| load | Mosquitto | herald | herald/Mosquitto | Mosquitto CPU s/1000 "
              "| herald CPU s/1000 | Mosquitto delivered | herald delivered |")
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    chosen = {s.key for s in args.chosen}
    caveats = []
    for label, scenario, key, digits, lower_better in ROWS:
        if scenario not in chosen:
            continue
        m = median(runs, "mosquitto", scenario, key)
        h = median(runs, "herald", scenario, key)
        ratio = "—" if m in (None, 0) or h is None else f"{h / m:.2f}"
        cpu_m = median(runs, "mosquitto", scenario, "cpu_per_1000")
        cpu_h = median(runs, "herald", scenario, "cpu_per_1000")
        name = label.format(subscribers=args.fanout_subscribers,
                            connections=args.idle_connections)
        for server in ("mosquitto", "herald"):
            marked = {r["caveat"] for r in runs if r["server"] == server
                      and r["scenario"] == scenario and r.get("caveat")}
            for caveat in sorted(marked):
                note = f"{NAMES[server]}, {name}: {caveat}"
                if note not in caveats:
                    caveats.append(note)
        marks = "".join(f" [{caveats.index(n) + 1}]" for n in caveats if f", {name}: " in n)
        name += marks
        lines.append(f"| {name} | {fmt(m, digits)} | {fmt(h, digits)} | {ratio} "
                     f"| {fmt(cpu_m, 3)} | {fmt(cpu_h, 3)} "
                     f"| {delivered(runs, 'mosquitto', scenario)} "
                     f"| {delivered(runs, 'herald', scenario)} |")
    if caveats:
        lines.append("")
        lines += [f"[{i}] {note}" for i, note in enumerate(caveats, 1)]
    return "\n".join(lines)


def runs_table(runs):
    lines = ["| server | load | round | status | figure | delivered / connected | server CPU s "
             "| peak RSS MiB | p50 / p99 / max µs | tool's result |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        figure = r.get("rate") if r["scenario"] != "idle" else r.get("held_rss_mib")
        latency = (f"{fmt(r.get('p50'))} / {fmt(r.get('p99'))} / {fmt(r.get('max'))}"
                   if r.get("p50") is not None else "—")
        result = dict(r.get("result") or {})
        for bulky in ("scenario", "latency"):
            result.pop(bulky, None)
        lines.append(f"| {NAMES[r['server']]} | {r['scenario']} | {r['round']} "
                     f"| {r['status'].replace('|', '/')} | {fmt(figure, 1)} "
                     f"| {fmt(r.get('count'))} of {fmt(r.get('expected'))} "
                     f"| {fmt(r.get('cpu_s'), 2)} | {fmt(r.get('peak_rss_mib'), 1)} "
                     f"| {latency} | `{str(result).replace('|', '/')[:400]}` |")
    return "\n".join(lines)


def describe(run):
    r = run.get("result") or {}
    if run["scenario"] == "idle":
        figures = (f"connected {fmt(r.get('connected'))} of {fmt(r.get('connections'))} in "
                   f"{fmt(r.get('connect_seconds'), 1)} s, RSS held "
                   f"{fmt(run.get('held_rss_mib'), 1)} MiB")
    elif run.get("p50") is not None:
        figures = (f"p50 {fmt(run['p50'])} µs, p99 {fmt(run.get('p99'))} µs, "
                   f"max {fmt(run.get('max'))} µs")
    else:
        figures = (f"{fmt(run.get('rate'))} msg/s, received {fmt(run.get('count'))} of "
                   f"{fmt(run.get('expected'))}")
    if "cpu_s" not in run:
        figures = "not measured"
    caveat = f"; NOTE: {run['caveat']}" if run.get("caveat") else ""
    return (f"{NAMES[run['server']]:9} {run['scenario']:10} round {run['round']}: "
            f"{run['status']}; {figures}; CPU {fmt(run.get('cpu_s'), 2)} s, "
            f"peak RSS {fmt(run.get('peak_rss_mib'), 1)} MiB{caveat}")


def write_markdown(runs, args, settings, started, state):
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    path = settings.results_dir / f"mqtt-{started:%Y-%m-%d}.md"
    herald_note = (f"- **herald: {state['herald_refused']}**; its column is empty: only "
                   "Mosquitto was measured\n" if state.get("herald_refused") else "")
    if args.idle_capped:
        herald_note += f"- **Idle connections: {args.idle_capped}**\n"
    nodelay = ("; `set_tcp_nodelay true`" if args.mosquitto_tcp_nodelay else
               "; `set_tcp_nodelay` at its default, false: Nagle's algorithm delays its small "
               "writes when an earlier one is unacknowledged, which shows in QoS 0 tail latency")
    loads = "\n".join(f"  - {s.key}: {s.summary}" for s in SCENARIOS
                      if s in args.chosen)
    path.write_text(f"""\
# MQTT: herald vs Mosquitto — {started:%Y-%m-%d %H:%M}

- Machine: {machine_description()}
- Software: {versions("mosquitto", "Mosquitto")}; load generator build/bin/herald_mqtt_load (herald's own MQTT
  codec, Boost.Asio, one thread for the publisher and one for the subscribers)
{herald_note}- MQTT {args.protocol}, {args.size}-byte payloads, QoS 1 window {args.window} (lowered to
  the broker's Receive Maximum); QoS 0 {args.qos0_messages:,} and QoS 1 {args.qos1_messages:,}
  messages; latency {args.latency_messages:,} at {args.latency_rate:,.0f}/s; fan-out
  {args.fanout_subscribers:,} subscribers × {args.fanout_messages:,} messages; idle
  {args.idle_connections:,} connections from {args.sources}, held {args.idle_hold:.0f} s
{loads}
- Mosquitto: persistence on in a private directory, otherwise its defaults (anonymous
  clients allowed, no connection limit, log to a file{nodelay}). Its CONNACK announces a
  Receive Maximum of 20, which caps the QoS 1 publisher's window at 20 in MQTT 5. **Mosquitto is single-threaded**,
  and its persistence is a snapshot every 30 minutes and at shutdown: **its PUBACK is sent
  without an fsync**, so a crash loses acknowledged messages. herald's promise (issue 9) is
  to fsync a QoS 1 message that a persistent session subscribes to before its PUBACK (grouped
  with concurrent commits), so that the persistent-session row compares herald QoS 1 *with*
  fsync against Mosquitto QoS 1 *without* it. A server that grants no persistent session
  (CONNACK session expiry 0, as herald does while its sessions live in memory only) is
  marked under the table: its figure is then QoS 1 to a clean session
- Rates: messages the subscribers received after the first, over the time from the first to
  the last (fan-out: all subscribers' deliveries together). Latency: publish (timestamp in the
  payload) to receipt. RSS: the server's VmRSS, highest of samples every 0.5 s while the
  idle connections were held; per 1,000: its growth over the fresh server's RSS, per 1,000
  connections
- herald/Mosquitto: the ratio of the medians; above 1 herald is faster for rates, below 1
  it is better for latency and memory. CPU: the server's user + system seconds per 1,000
  messages delivered (idle: per 1,000 connections), from just before the load to its end
- Each figure is the median over {settings.rounds} round(s) of runs that completed; servers
  took turns (A B A B), each run a fresh server. How to read this: bench/README.md

## Medians

{summary_table(runs, args)}

## Every run

{runs_table(runs)}
""")
    return path
