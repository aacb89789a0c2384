"""The scenarios of the MQTT benchmark: what herald_mqtt_load is asked to do for each, how
long it may take, and which figures its JSON result gives (bench/README.md, "mqtt")."""

MESSAGE_TIMEOUT = 300  # seconds the load generator may take for one message scenario


class Scenario:
    def __init__(self, key, command, summary):
        self.key = key
        self._command = command
        self.summary = summary  # one line for the results file: what the load was

    def tool_args(self, args):
        return self._command(args)

    def timeout(self, args):
        if self.key == "idle":
            return args.idle_connections / 500 + args.idle_hold + 120
        return MESSAGE_TIMEOUT

    def figures(self, result):
        """The numbers the tables show, from one JSON result."""
        if self.key == "idle":
            return {"connected": result.get("connected"), "expected": result.get("connections"),
                    "count": result.get("connected")}
        figures = {"rate": result.get("received_per_second"), "count": result.get("received"),
                   "expected": result.get("expected"), "complete": result.get("complete")}
        latency = result.get("latency") or {}
        figures["p50"], figures["p99"] = latency.get("p50_us"), latency.get("p99_us")
        figures["max"] = latency.get("max_us")
        return figures

    def caveat(self, result):
        """What a reader of a completed run's figure must know, or None."""
        notes = []
        if self.key == "persistent" and result.get("session_expiry_granted") == 0:
            notes.append("the broker granted no persistent session (CONNACK session expiry 0): "
                         "this is QoS 1 to a clean session, with nothing to keep on disk")
        if result.get("resent"):
            notes.append("the broker refused publishes with 0x97 (quota exceeded: the "
                         "subscriber's queue was full) and the publisher sent them again after "
                         "1 ms (the per-run table has how many)")
        return "; ".join(notes) or None

    def status(self, result):
        if "error" in result:
            return f"failed: {result['error']}"
        if self.key == "idle":
            if result.get("connected") != result.get("connections"):
                return f"incomplete: {result.get('connected')} of {result.get('connections')} connected"
            if result.get("dropped_during_hold"):
                return f"incomplete: {result['dropped_during_hold']} closed while held"
            return "ok"
        if any(result.get("failed_acks", {}).values()):
            return (f"refused PUBACKs {result['failed_acks']}, {result.get('received')} of "
                    f"{result.get('expected')} received")
        # QoS 0 may lose under overload: the delivered count is the result, not a failure.
        if not result.get("complete") and result.get("qos") != 0:
            return f"incomplete: {result.get('received')} of {result.get('expected')} received"
        return "ok"


def _message_args(args, qos):
    """A QoS 1 publish refused with 0x97 is sent again, as a device would, rather than lost:
    a broker that refuses when a queue is full (herald) and one that never does (Mosquitto)
    then deliver the same messages."""
    resend = ["--resend-refused"] if qos == 1 else []
    return ["--qos", str(qos), "--size", str(args.size), "--window", str(args.window)] + resend


SCENARIOS = [
    Scenario("qos0", lambda a: ["--timeout", str(MESSAGE_TIMEOUT), "throughput",
                                "--messages", str(a.qos0_messages)] + _message_args(a, 0),
             "QoS 0, 1 publisher → 1 subscriber, open loop"),
    Scenario("qos1", lambda a: ["--timeout", str(MESSAGE_TIMEOUT), "throughput",
                                "--messages", str(a.qos1_messages)] + _message_args(a, 1),
             "QoS 1, 1 → 1, window of in-flight publishes"),
    Scenario("persistent", lambda a: ["--timeout", str(MESSAGE_TIMEOUT), "persistent",
                                      "--messages", str(a.qos1_messages), "--size", str(a.size),
                                      "--window", str(a.window), "--resend-refused"],
             "QoS 1, 1 → 1 subscriber with a persistent session (expiry 3,600 s), connected"),
    Scenario("latency0", lambda a: ["--timeout", str(MESSAGE_TIMEOUT), "latency",
                                    "--messages", str(a.latency_messages),
                                    "--rate", str(a.latency_rate)] + _message_args(a, 0),
             "QoS 0, paced publishes, publish → receipt"),
    Scenario("latency1", lambda a: ["--timeout", str(MESSAGE_TIMEOUT), "latency",
                                    "--messages", str(a.latency_messages),
                                    "--rate", str(a.latency_rate)] + _message_args(a, 1),
             "QoS 1, paced publishes, publish → receipt"),
    Scenario("fanout", lambda a: ["--timeout", str(MESSAGE_TIMEOUT), "fanout",
                                  "--subscribers", str(a.fanout_subscribers),
                                  "--messages", str(a.fanout_messages)] + _message_args(a, 1),
             "QoS 1, 1 publisher → N subscribers of one topic"),
    Scenario("idle", lambda a: ["idle", "--connections", str(a.idle_connections),
                                "--sources", a.sources, "--hold", str(a.idle_hold)],
             "idle connections (CONNECT, CONNACK, keep alive 300 s), held"),
]
