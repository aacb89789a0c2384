"""Runs Eclipse Mosquitto's packet-sequence broker tests (../shared/conformance/mqtt-mosquitto,
whose README sets the rules followed here) against any MQTT broker on a host and port.

Each sequence gets its own TCP connection: the default CONNECT (unless the sequence brings its
own), then its "send", "recv" and "publish" steps in order, then the end check (the broker has
closed the connection, or answers a PINGREQ). A "recv" compares bytes exactly; the CONNACK to
the default CONNECT is compared exactly (`--connack exact`, the upstream rule, which holds
Mosquitto's own CONNACK properties against every broker) or by packet type and reason code
only (`--connack reason`, the fair rule for other brokers).

Sequences run concurrently, except those that could see or disturb one another through the
broker: whatever publishes, subscribes, brings its own CONNECT or shares its client id runs
serially in data order (retained messages set by one are read by later ones), beside the
concurrent rest.

    /usr/bin/python3 tests/mqtt_conformance/runner.py --port PORT [--connack exact]
        [--json results.json]
"""

import argparse
import collections
import concurrent.futures
import dataclasses
import json
import pathlib
import socket
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO.parent / "shared/conformance/mqtt-mosquitto/data"
SOCKET_TIMEOUT = 2.0  # seconds, the README's rule for every read
DEFAULT_WORKERS = 16
HELPER_CLIENT_ID = "helper"
# Sorted last, its one sequence asks whether the broker is still alive after all the others.
BROKER_CHECK_FILE = "ZZ-broker-check.json"

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE = 1, 2, 3, 4, 5, 6, 7, 8
PINGREQ_BYTES = bytes.fromhex("c000")
PINGRESP_BYTES = bytes.fromhex("d000")
DISCONNECT_BYTES = bytes.fromhex("e000")
# What Mosquitto answers the default CONNECT with; v5 adds Topic Alias Maximum 10 (0x22)
# and Receive Maximum 20 (0x21), in that order.
MOSQUITTO_CONNACK = {
    3: bytes.fromhex("20020000"),
    4: bytes.fromhex("20020000"),
    5: bytes.fromhex("200900000622000a210014"),
}
CONNACK_MODES = ("exact", "reason")


# --- the sequences ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Sequence:
    """One test of the data: `order` is its place in the data (files sorted by name)."""
    order: int
    file: str
    group: str
    name: str
    ver: int
    connect: bool
    expect_disconnect: bool
    msgs: tuple

    @property
    def full_name(self):
        return f"{self.group} {self.name}"

    @property
    def label_version(self):
        """The protocol version the group's name gives ("v5.0   CONNECT" -> "v5.0"), which is
        how the README counts; "ver" does not say it for sequences that send their own
        CONNECT. Groups named otherwise (REGRESSIONS, BROKER CHECK) count as "other"."""
        first = self.group.split()[0]
        return first if first.startswith("v") else "other"


def load_sequences(data_dir=DEFAULT_DATA_DIR):
    """Every sequence of the non-disabled groups, in data order."""
    sequences = []
    for path in sorted(pathlib.Path(data_dir).glob("*.json")):
        for group in json.loads(path.read_text()):
            if group.get("disable"):
                continue
            for test in group["tests"]:
                sequences.append(Sequence(
                    order=len(sequences), file=path.name, group=group["group"],
                    name=test["name"], ver=test.get("ver", 4),
                    connect=test.get("connect", True),
                    expect_disconnect=test.get("expect_disconnect", True),
                    msgs=tuple(test["msgs"])))
    return sequences


def hex_payload(text):
    """The bytes of a "send" or "recv" payload: hex digits, with spaces anywhere."""
    return bytes.fromhex("".join(text.split()))


# --- MQTT packets the runner writes itself ----------------------------------------------------

def remaining_length(size):
    """MQTT's variable byte integer (5.0 1.5.5, 3.1.1 2.2.3)."""
    encoded = bytearray()
    while True:
        size, digit = divmod(size, 128)
        encoded.append(digit | (0x80 if size else 0))
        if not size:
            return bytes(encoded)


def packet(first_byte, body):
    return bytes([first_byte]) + remaining_length(len(body)) + body


def utf8_string(text):
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def connect_packet(client_id, ver):
    """The README's default CONNECT: clean session, keep-alive 60, protocol level `ver`, and
    for 5.0 the one property Receive Maximum = 20."""
    protocol_name = "MQIsdp" if ver == 3 else "MQTT"  # MQTT 3.1 had the older name
    header = utf8_string(protocol_name) + bytes([ver, 0x02]) + (60).to_bytes(2, "big")
    if ver == 5:
        header += bytes([3, 0x21]) + (20).to_bytes(2, "big")
    return packet(CONNECT << 4, header + utf8_string(client_id))


def publish_packet(topic, qos, payload, packet_id):
    body = utf8_string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return packet(PUBLISH << 4 | qos << 1, body)


def decode_remaining_length(data, start):
    """(value, bytes it takes) of the variable byte integer at data[start:], or (None, 0)
    when it is cut short or runs past the four bytes MQTT allows."""
    value = 0
    for index in range(4):
        if start + index >= len(data):
            return None, 0
        digit = data[start + index]
        value |= (digit & 0x7F) << (7 * index)
        if not digit & 0x80:
            return value, index + 1
    return None, 0


def packet_types(data):
    """The control packet types in `data` framed the way a broker frames them, one fixed
    header after another, up to a remaining length that is not one (where the broker stops
    reading too)."""
    types, position = [], 0
    while position < len(data):
        types.append(data[position] >> 4)
        size, length_bytes = decode_remaining_length(data, position + 1)
        if size is None:
            break
        position += 1 + length_bytes + size
    return types


# --- one sequence ----------------------------------------------------------------------------

@dataclasses.dataclass
class Failure:
    """Why a sequence failed: the step ("connection", "connect", "msgs[N] send|recv|publish"
    or "end"), what happened, and the bytes expected and got where there are some."""
    step: str
    reason: str
    expected: bytes = None
    got: bytes = None

    def as_dict(self):
        return {"step": self.step, "reason": self.reason,
                "expected": self.expected.hex(" ") if self.expected is not None else None,
                "got": self.got.hex(" ") if self.got is not None else None}

    def __str__(self):
        text = f"{self.step}: {self.reason}"
        if self.expected is not None:
            text += f"; expected {self.expected.hex(' ') or 'nothing'}"
        if self.got is not None:
            text += f"; got {self.got.hex(' ') or 'nothing'}"
        return text


class StepFailed(Exception):
    def __init__(self, failure):
        super().__init__(str(failure))
        self.failure = failure


@dataclasses.dataclass
class Result:
    sequence: Sequence
    failure: Failure
    seconds: float

    @property
    def passed(self):
        return self.failure is None


def read_exactly(sock, size, step, expected=None):
    """`size` bytes from the broker, or StepFailed saying whether it closed the connection or
    went quiet for the socket timeout (with what it did send, and `expected` if given)."""
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except socket.timeout:
            raise StepFailed(Failure(step, "timeout", expected, data)) from None
        except ConnectionError:
            chunk = b""
        if not chunk:
            raise StepFailed(Failure(step, "connection closed", expected, data))
        data += chunk
    return data


def expect_bytes(sock, expected, step):
    got = read_exactly(sock, len(expected), step, expected)
    if got != expected:
        raise StepFailed(Failure(step, "different bytes", expected, got))


def send_bytes(sock, data, step):
    try:
        sock.sendall(data)
    except socket.timeout:
        raise StepFailed(Failure(step, "timeout")) from None
    except ConnectionError:
        raise StepFailed(Failure(step, "connection closed")) from None


def connect_to(host, port, timeout, step):
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        raise StepFailed(Failure(step, f"cannot connect: {error}")) from None


def expect_connack_reason(sock, step):
    """A CONNACK with reason code 0 whatever its properties: byte 0x20, the remaining length,
    then the acknowledge flags and the reason code (3.1.1 3.2.2.3, 5.0 3.2.2.2)."""
    received = read_exactly(sock, 1, step)
    if received != bytes([CONNACK << 4]):
        raise StepFailed(Failure(step, "not a CONNACK", got=received))
    size = None
    while size is None:
        if len(received) > 4:
            raise StepFailed(Failure(step, "CONNACK with a malformed length", got=received))
        received += read_exactly(sock, 1, step)
        size, length_bytes = decode_remaining_length(received, 1)
    body = read_exactly(sock, size, step)
    if size < 2 or body[1] != 0:
        raise StepFailed(Failure(step, "CONNACK without reason code 0", got=received + body))


def expect_connack(sock, ver, connack_mode, step="connect"):
    if connack_mode == "exact":
        expect_bytes(sock, MOSQUITTO_CONNACK[ver], step)
    else:
        expect_connack_reason(sock, step)


def publish_as_helper(host, port, message, timeout, step):
    """The README's "publish" step: client `helper` (3.1.1) connects, publishes the message's
    payload (plain text here, not hex) to its topic at its QoS, completes the QoS 1 or 2
    exchange, and disconnects."""
    qos, packet_id = message["qos"], 1
    ident = packet_id.to_bytes(2, "big")
    with connect_to(host, port, timeout, step + " (helper)") as helper:
        send_bytes(helper, connect_packet(HELPER_CLIENT_ID, 4), step + " (helper)")
        expect_connack_reason(helper, step + " (helper CONNACK)")
        send_bytes(helper, publish_packet(message["topic"], qos, message["payload"].encode(),
                                          packet_id), step + " (helper PUBLISH)")
        if qos == 1:
            expect_bytes(helper, packet(PUBACK << 4, ident), step + " (helper PUBACK)")
        elif qos == 2:
            expect_bytes(helper, packet(PUBREC << 4, ident), step + " (helper PUBREC)")
            send_bytes(helper, packet(PUBREL << 4 | 0x02, ident), step + " (helper PUBREL)")
            expect_bytes(helper, packet(PUBCOMP << 4, ident), step + " (helper PUBCOMP)")
        send_bytes(helper, DISCONNECT_BYTES, step + " (helper DISCONNECT)")


def expect_closed(sock, step="end"):
    """The broker must have closed the connection: a read returns nothing or is reset."""
    try:
        data = sock.recv(4096)
    except socket.timeout:
        raise StepFailed(Failure(step, "timeout: the connection is still open")) from None
    except ConnectionError:
        return
    if data:
        raise StepFailed(Failure(step, "bytes where the connection should have closed",
                                 expected=b"", got=data))


def play(sock, sequence, host, port, connack_mode, timeout):
    if sequence.connect:
        send_bytes(sock, connect_packet(sequence.full_name, sequence.ver), "connect")
        expect_connack(sock, sequence.ver, connack_mode)
    for index, message in enumerate(sequence.msgs):
        step = f"msgs[{index}] {message['type']}"
        if message["type"] == "send":
            send_bytes(sock, hex_payload(message["payload"]), step)
        elif message["type"] == "recv":
            expect_bytes(sock, hex_payload(message["payload"]), step)
        elif message["type"] == "publish":
            publish_as_helper(host, port, message, timeout, step)
        else:
            raise ValueError(f"{sequence.full_name}: unknown step type {message['type']!r}")
    if sequence.expect_disconnect:
        expect_closed(sock)
    else:
        send_bytes(sock, PINGREQ_BYTES, "end")
        expect_bytes(sock, PINGRESP_BYTES, "end")


def run_sequence(sequence, host, port, connack_mode="reason", timeout=SOCKET_TIMEOUT):
    """Plays one sequence on a connection of its own and returns its Result."""
    started = time.monotonic()
    failure = None
    try:
        with connect_to(host, port, timeout, "connection") as sock:
            play(sock, sequence, host, port, connack_mode, timeout)
    except StepFailed as failed:
        failure = failed.failure
    return Result(sequence, failure, time.monotonic() - started)


# --- all of them -----------------------------------------------------------------------------

def must_run_serially(sequence, shared_client_ids, own_connect_bytes):
    """Whether the sequence could see or disturb another one through the broker: it publishes
    or subscribes (messages, retained ones included, cross between sequences), or brings its
    own CONNECT (client id, will and session unknown here), or its client id is one another
    sequence uses too (a second CONNECT with it takes the session over)."""
    if not sequence.connect:
        return True
    if sequence.full_name in shared_client_ids:
        return True
    if sequence.full_name.encode() in own_connect_bytes:
        return True
    for message in sequence.msgs:
        if message["type"] == "publish":
            return True
        if message["type"] == "send" and {CONNECT, PUBLISH, SUBSCRIBE} & set(
                packet_types(hex_payload(message["payload"]))):
            return True
    return False


def schedule(sequences):
    """(parallel, serial, last): the sequences that may run at the same time as any other;
    those that run one at a time in data order; and the broker check, after all the rest."""
    last = [s for s in sequences if s.file == BROKER_CHECK_FILE]
    rest = [s for s in sequences if s.file != BROKER_CHECK_FILE]
    counts = collections.Counter(s.full_name for s in sequences)
    shared_client_ids = {name for name, count in counts.items() if count > 1}
    own_connect_bytes = b"\n".join(
        hex_payload(m["payload"]) for s in sequences if not s.connect
        for m in s.msgs if m["type"] == "send")
    serial = [s for s in rest if must_run_serially(s, shared_client_ids, own_connect_bytes)]
    serial_orders = {s.order for s in serial}
    parallel = [s for s in rest if s.order not in serial_orders]
    return parallel, serial, last


def run_all(sequences, host, port, connack_mode="reason", workers=DEFAULT_WORKERS,
            timeout=SOCKET_TIMEOUT):
    """Results of every sequence, in data order: the serial ones on one worker beside a pool
    of `workers` for the parallel ones, then the broker check alone."""
    parallel, serial, last = schedule(sequences)

    def run(sequence):
        return run_sequence(sequence, host, port, connack_mode, timeout)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers + 1) as pool:
        serial_results = pool.submit(lambda: [run(s) for s in serial])
        results = list(pool.map(run, parallel))
        results += serial_results.result()
    results += [run(s) for s in last]
    return sorted(results, key=lambda r: r.sequence.order)


# --- reporting -------------------------------------------------------------------------------

def tally(results, key):
    """{key: [passed, total]} in first-seen order."""
    counts = {}
    for result in results:
        entry = counts.setdefault(key(result.sequence), [0, 0])
        entry[0] += result.passed
        entry[1] += 1
    return counts


def summary_table(results, title):
    """Passes per group, per file and per protocol version (as the groups' names give it)."""
    width = max(len(s.sequence.group) for s in results) + 2
    lines = [title]
    for heading, key in (("group", lambda s: s.group), ("file", lambda s: s.file),
                         ("version (group name)", lambda s: s.label_version)):
        lines.append("")
        lines.append(f"{heading:<{width}}passed / total")
        for name, (passed, total) in tally(results, key).items():
            lines.append(f"{name:<{width}}{passed:>6} / {total}")
    passed = sum(r.passed for r in results)
    lines.append("")
    lines.append(f"{'total':<{width}}{passed:>6} / {len(results)}")
    return "\n".join(lines)


def results_document(results, host, port, connack_mode, seconds):
    return {
        "host": host, "port": port, "connack": connack_mode, "seconds": round(seconds, 2),
        "passed": sum(r.passed for r in results), "total": len(results),
        "tests": [{"file": r.sequence.file, "group": r.sequence.group,
                   "name": r.sequence.name, "full_name": r.sequence.full_name,
                   "passed": r.passed, "seconds": round(r.seconds, 3),
                   "failure": r.failure.as_dict() if r.failure else None}
                  for r in results],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connack", choices=CONNACK_MODES, default="reason",
                        help="exact: Mosquitto's CONNACK bytes (upstream); reason: packet "
                             "type and reason code only (default)")
    parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help="connections at once for the sequences that may run concurrently")
    parser.add_argument("--timeout", type=float, default=SOCKET_TIMEOUT,
                        help="socket timeout in seconds (the README's rule is 2)")
    parser.add_argument("--json", type=pathlib.Path, help="write per-test results here")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = run_all(load_sequences(args.data), args.host, args.port, args.connack,
                      args.workers, args.timeout)
    seconds = time.monotonic() - started
    print(summary_table(results, f"Mosquitto packet sequences against {args.host}:{args.port}"
                                 f" (CONNACK {args.connack}), {seconds:.1f} s"))
    if args.json:
        document = results_document(results, args.host, args.port, args.connack, seconds)
        args.json.write_text(json.dumps(document, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
