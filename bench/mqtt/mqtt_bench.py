"""MQTT: herald's broker against Debian's Mosquitto 2.0.11, side by side in one run.

Each measurement starts one server fresh on a free loopback port (never 1883), runs one
scenario of the load generator build/bin/herald_mqtt_load against it (bench/mqtt-load), reads
the server's CPU time and memory from /proc, and stops it. Servers take turns, A B A B, for
every scenario and round; never both under load at once. Medians over the rounds, with
herald/Mosquitto ratios, go to stdout and bench/results/mqtt-DATE.md.

- Mosquitto (bench/lib/mosquitto_instance.py): persistence on in a private directory, its
  defaults otherwise (anonymous clients allowed, no connection limit). It is single-threaded,
  and its persistence is a snapshot every 30 minutes: its PUBACK does not mean "on disk".
- herald (bench/lib/herald_instance.py): heraldd with an MQTT listener and the [mqtt] keys
  below. Issue 9 has it fsync a QoS 1 PUBLISH that a persistent session subscribes to before
  PUBACK; a run in which it grants no persistent session (CONNACK session expiry 0) is marked.
  While heraldd cannot listen for MQTT, it refuses the configuration: that is reported, and
  only Mosquitto is measured.
"""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_common import REPO  # noqa: E402
from child_process import open_file_ceiling  # noqa: E402
from herald_instance import HeraldInstance  # noqa: E402
from loopback_ports import free_port  # noqa: E402
from mosquitto_instance import MosquittoInstance  # noqa: E402
import mqtt_report  # noqa: E402
import process_stats  # noqa: E402
from scenarios import SCENARIOS  # noqa: E402

SERVERS = ("mosquitto", "herald")
HERALD_MQTT = """\
allow_anonymous = true
anonymous_publish = ["#"]
anonymous_subscribe = ["#"]
max_connections = 200000
max_connections_per_ip = 200000
"""
NO_MQTT_LISTENER = "heraldd has no MQTT listener yet"
RSS_SAMPLE_SECONDS = 0.5


class Settings:
    """BENCH_ROUNDS, BENCH_SERVERS, HERALD_BIN_DIR, BENCH_KEEP, BENCH_RESULTS_DIR."""

    def __init__(self, env):
        self.rounds = int(env.get("BENCH_ROUNDS", "3"))
        self.servers = env.get("BENCH_SERVERS", " ".join(SERVERS)).split()
        self.bin_dir = pathlib.Path(env.get("HERALD_BIN_DIR", REPO / "build/bin"))
        self.keep = env.get("BENCH_KEEP", "0") == "1"
        self.results_dir = pathlib.Path(env.get("BENCH_RESULTS_DIR", REPO / "bench/results"))
        unknown = set(self.servers) - set(SERVERS)
        if unknown:
            sys.exit(f"BENCH_SERVERS: unknown server(s) {sorted(unknown)}; use mosquitto, herald")


def herald_refusal(log):
    """The reason heraldd gave for not starting, when it is that it cannot speak MQTT yet."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return None
    lines = [line for line in text.splitlines() if "mqtt" in line]
    for line in lines:
        # Today's daemon: "listener protocol 'mqtt' is not available yet"; one that does not
        # read the [mqtt] table yet says "unknown key 'mqtt'".
        if "is not available yet" in line or "unknown key 'mqtt'" in line:
            return f"{NO_MQTT_LISTENER} ({line.strip()})"
    return None


def open_files_needed(args):
    return max(65536, args.idle_connections + 10000)


def make_server(server, work, port, args, settings):
    if server == "mosquitto":
        extra = "set_tcp_nodelay true\n" if args.mosquitto_tcp_nodelay else ""
        instance = MosquittoInstance(work, port, open_files=open_files_needed(args), extra=extra)
    else:
        instance = HeraldInstance(work, free_port(), settings.bin_dir, mqtt_port=port,
                                  mqtt=HERALD_MQTT, open_files=open_files_needed(args))
    return instance


def run_tool(command, pid, timeout):
    """Runs the load generator; returns (its result object, the highest VmRSS of `pid` sampled
    while an idle load held its connections, or None). Its lines go to stdout as JSON; a
    "holding" line starts the sampling, which ends with the final line."""
    tool = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(timeout, tool.kill)
    killer.start()
    result, held_rss, stop_sampling, sampler = None, [], threading.Event(), None
    try:
        for line in tool.stdout:
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                continue
            if parsed.get("phase") == "holding":
                def sample():
                    while not stop_sampling.is_set():
                        held_rss.append(process_stats.rss_kib(pid))
                        stop_sampling.wait(RSS_SAMPLE_SECONDS)
                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
            else:
                result = parsed
        tool.wait()
    finally:
        killer.cancel()
        stop_sampling.set()
        if sampler:
            sampler.join()
    stderr = tool.stderr.read().strip()
    if result is None:
        result = {"error": f"herald_mqtt_load exited with {tool.returncode} without a result"
                           + (f": {stderr[-300:]}" if stderr else "")}
    return result, (max(held_rss) / 1024 if held_rss else None)


def measure(server, scenario, round_number, args, settings, base, live, state):
    run = {"server": server, "scenario": scenario.key, "round": round_number, "status": "ok"}
    if server == "herald" and state.get("herald_refused"):
        run["status"] = state["herald_refused"]
        return run
    work = base / f"{server}-{scenario.key}-r{round_number}"
    port = free_port()
    instance = make_server(server, work, port, args, settings)
    live.append(instance)
    try:
        try:
            instance.start()
        except RuntimeError:
            refusal = herald_refusal(work / "heraldd.log") if server == "herald" else None
            if refusal is None:
                raise
            state["herald_refused"] = refusal
            run["status"] = refusal
            return run
        command = [str(settings.bin_dir / "herald_mqtt_load"), "--port", str(port),
                   "--protocol", args.protocol] + scenario.tool_args(args)
        cpu_before = process_stats.cpu_seconds(instance.pid)
        run["rss_before_mib"] = process_stats.rss_kib(instance.pid) / 1024
        result, held_rss_mib = run_tool(command, instance.pid, scenario.timeout(args) + 60)
        run["cpu_s"] = process_stats.cpu_seconds(instance.pid) - cpu_before
        run["peak_rss_mib"] = process_stats.peak_rss_kib(instance.pid) / 1024
        run["held_rss_mib"] = held_rss_mib
        run["result"] = result
        run.update(scenario.figures(result))
        if held_rss_mib is not None and run.get("connected"):
            # What each connection costs: the growth over the fresh server's own memory.
            run["rss_per_1000"] = (held_rss_mib - run["rss_before_mib"]) / run["connected"] * 1000
        run["status"] = scenario.status(result)
        run["caveat"] = scenario.caveat(result)
        return run
    except (RuntimeError, OSError) as error:
        run["status"] = f"failed: {type(error).__name__}: {error}"
        return run
    finally:
        instance.stop()
        live.remove(instance)
        if not settings.keep:
            shutil.rmtree(work, ignore_errors=True)


def check_can_run(args, settings):
    if os.geteuid() != 0:
        sys.exit("run as root: 100,000 idle connections need open file limits above the "
                 "default hard limit, for the load generator and for each server")
    tool = settings.bin_dir / "herald_mqtt_load"
    if not tool.exists():
        sys.exit(f"{tool} not found: build it with `cmake --preset bench && cmake --build "
                 "--preset bench --target herald_mqtt_load` (or set HERALD_BIN_DIR)")
    if "herald" in settings.servers and not (settings.bin_dir / "heraldd").exists():
        sys.exit(f"{settings.bin_dir}/heraldd not found: run `make build` or set HERALD_BIN_DIR")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help="default BENCH_ROUNDS or 3")
    parser.add_argument("--protocol", choices=("5", "3.1.1"), default="5")
    parser.add_argument("--scenarios", default=",".join(s.key for s in SCENARIOS),
                        help="comma-separated subset of: " + ", ".join(s.key for s in SCENARIOS))
    parser.add_argument("--qos0-messages", type=int, default=500000)
    parser.add_argument("--qos1-messages", type=int, default=200000,
                        help="QoS 1 throughput and the persistent session")
    parser.add_argument("--size", type=int, default=64, help="payload bytes")
    parser.add_argument("--window", type=int, default=100, help="QoS 1 publishes in flight")
    parser.add_argument("--latency-messages", type=int, default=5000)
    parser.add_argument("--latency-rate", type=float, default=1000, help="publishes per second")
    parser.add_argument("--fanout-subscribers", type=int, default=1000)
    parser.add_argument("--fanout-messages", type=int, default=1000)
    parser.add_argument("--idle-connections", type=int, default=100000)
    parser.add_argument("--idle-hold", type=float, default=10, help="seconds")
    parser.add_argument("--sources", default=None,
                        help="source addresses for idle (default: 127.0.0.2 onwards, one per "
                             "10,000 connections, at least 2; each has ~28,000 ports)")
    parser.add_argument("--mosquitto-tcp-nodelay", action="store_true",
                        help="give Mosquitto `set_tcp_nodelay true` (its default is false: Nagle's "
                             "algorithm on its sockets, which shows in QoS 0 tail latency)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, one round: a try-out in about a minute")
    args = parser.parse_args()
    if args.quick:
        args.qos0_messages, args.qos1_messages = 20000, 10000
        args.latency_messages, args.fanout_subscribers, args.fanout_messages = 500, 100, 100
        args.idle_connections, args.idle_hold = 2000, 2
        args.rounds = args.rounds or 1
    # Each connection is an open file in the server and in the load generator.
    ceiling = open_file_ceiling(open_files_needed(args))
    args.idle_asked, args.idle_capped = args.idle_connections, None
    if ceiling < args.idle_connections + 1000:
        args.idle_connections = max(1000, (ceiling - 1000) // 1000 * 1000)
        args.idle_capped = (
            f"this machine allows at most {ceiling:,} open files per process (the hard "
            f"RLIMIT_NOFILE, which root here cannot raise: it lacks CAP_SYS_RESOURCE), so no "
            f"server can hold {args.idle_asked:,} connections; idle measured with "
            f"{args.idle_connections:,}")
    if args.sources is None:
        count = max(2, -(-args.idle_connections // 10000))
        args.sources = ",".join(f"127.0.0.{2 + i}" for i in range(count))
    known = {s.key: s for s in SCENARIOS}
    args.chosen = [known[k] for k in args.scenarios.split(",") if k in known]
    unknown = [k for k in args.scenarios.split(",") if k not in known]
    if unknown:
        sys.exit(f"--scenarios: unknown {unknown}")
    return args


def main():
    args = parse_args()
    settings = Settings(os.environ)
    if args.rounds is not None:
        settings.rounds = args.rounds
    check_can_run(args, settings)
    started = datetime.datetime.now()
    base = pathlib.Path(tempfile.mkdtemp(prefix="herald-bench-mqtt-"))
    os.chmod(base, 0o755)  # Mosquitto drops to its own user and must get into its work dir
    live, runs, state = [], [], {}

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)
    print(f"mqtt: MQTT {args.protocol}, scenarios {[s.key for s in args.chosen]}, "
          f"{settings.rounds} round(s), servers {settings.servers}; work dir {base}", flush=True)
    print("note: Mosquitto is single-threaded, and its PUBACK does not mean on disk (no fsync); "
          "herald's is to mean it for a persistent session (issue 9; a run where herald grants "
          "none is marked)", flush=True)
    if not args.mosquitto_tcp_nodelay:
        print("note: Mosquitto's set_tcp_nodelay is at its default, false (Nagle's algorithm on "
              "its sockets); --mosquitto-tcp-nodelay turns it on", flush=True)
    if args.idle_capped and "idle" in [s.key for s in args.chosen]:
        print(f"note: {args.idle_capped}", flush=True)
    try:
        for round_number in range(1, settings.rounds + 1):
            for scenario in args.chosen:
                for server in settings.servers:
                    run = measure(server, scenario, round_number, args, settings, base, live,
                                  state)
                    runs.append(run)
                    print(mqtt_report.describe(run), flush=True)
    finally:
        for instance in list(live):
            instance.stop()
        if not settings.keep:
            shutil.rmtree(base, ignore_errors=True)
    print()
    if state.get("herald_refused"):
        print(f"herald: {state['herald_refused']}; only Mosquitto was measured.\n")
    print(mqtt_report.summary_table(runs, args))
    path = mqtt_report.write_markdown(runs, args, settings, started, state)
    print(f"\nwritten to {path}")
    failed = [r for r in runs if r["status"] != "ok" and not r["status"].startswith(NO_MQTT_LISTENER)]
    if failed:
        print(f"\n{len(failed)} run(s) not fully measured:", file=sys.stderr)
        for r in failed:
            print(f"  {r['server']} {r['scenario']} round {r['round']}: {r['status']}",
                  file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
