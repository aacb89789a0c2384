"""Nothing PUBACKed or PUBRECed is lost, and no QoS 2 message is stored twice, when heraldd
is killed with SIGKILL under MQTT load (issue 9's crash test).

Persistent sessions subscribe (some at QoS 1, some at QoS 2) and go offline. Publishers, at
QoS 1 and QoS 2, each payload a unique token sent once, publish from many connections while
the daemon is killed and restarted on the same data_dir several times. A publisher whose
connection breaks records the tokens it had no answer for and starts a new connection (clean
start) with new tokens. Retained messages are set on the way. After the last restart every
subscriber resumes its session and reads its queue: every acknowledged token is there (a
QoS 2 subscriber has each exactly once), no token appears that was never sent, and the last
retained message of each topic is there. The counts are printed.
"""

import random
import threading
import time

import pytest

from bounded_wait import SCALE, seconds
from mqtt_clients import RawClient

PUBLISHERS = 8
SUBSCRIBERS = {"crash-sub-q1": 1, "crash-sub-q2": 2}
KILLS = 5
KILL_INTERVAL = (0.5, 2.0)
MIN_MESSAGES = 1500
TAIL_MESSAGES = 200
MAX_MESSAGES = 50000
HOUR = 3600
OPEN = {"allow_anonymous": True, "anonymous_publish": ["#"], "anonymous_subscribe": ["#"],
        "max_queued_messages": 100000}
PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 3, 4, 5, 6, 7

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(SCALE > 1, reason="the crash test runs on the release build only"),
]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.number = 0
        self.acknowledged = {1: set(), 2: set()}
        self.unanswered = set()
        self.sent = 0

    def next_token(self, qos):
        with self.lock:
            self.number += 1
            self.sent += 1
            return f"q{qos}-{self.number:06d}"


def publisher(port, qos, tally, stop, index):
    """Publishes tokens with a window of one until `stop`; each broken connection ends with
    its unanswered token recorded, and a new connection starts."""
    while not stop.is_set():
        try:
            client = RawClient(port)
            client.connect(f"crash-pub-{index}")
        except (OSError, AssertionError):
            time.sleep(0.05)
            continue
        token = None
        try:
            packet_id = 0
            while not stop.is_set():
                packet_id = packet_id % 65535 + 1
                token = tally.next_token(qos)
                client.publish("crash/load", token, qos=qos, packet_id=packet_id)
                answer = client.read()
                if answer is None:
                    raise OSError("closed")
                kind, _, body = answer
                assert kind == (PUBACK if qos == 1 else PUBREC), f"answer type {kind}"
                _, reason = RawClient.ack_of(body)
                assert reason == 0, f"refused with {reason:#x}"
                with tally.lock:
                    tally.acknowledged[qos].add(token)
                token = None
                if qos == 2:
                    client.pubrel(packet_id)
                    answer = client.read()
                    if answer is None:
                        raise OSError("closed")
        except OSError:
            pass
        finally:
            if token is not None:
                with tally.lock:
                    tally.unanswered.add(token)
            client.close()


def read_queue(port, client_id):
    """Resumes the session and reads until nothing comes for a while: the tokens in order."""
    client = RawClient(port)
    assert client.connect(client_id, session_expiry=HOUR, clean_start=False) is True
    client.sock.settimeout(3)
    tokens = []
    try:
        while True:
            packet = client.read()
            if packet is None:
                break
            kind, flags, body = packet
            if kind == PUBREL:
                client.pubcomp(int.from_bytes(body[:2], "big"))
                continue
            if kind != PUBLISH:
                continue
            topic, packet_id, payload = RawClient.parse_publish(flags, body)
            if topic == "crash/load":
                tokens.append(payload.decode())
            if packet_id is not None:
                (client.pubrec if flags & 0x06 == 0x04 else client.puback)(packet_id)
    except TimeoutError:
        pass
    client.close()
    return tokens


def set_retained(port, generation):
    client = RawClient(port)
    client.connect("crash-retainer")
    client.publish("crash/retained", f"generation {generation}", qos=1, packet_id=1, retain=True)
    kind, _, body = client.read()
    client.close()
    return kind == PUBACK and RawClient.ack_of(body)[1] == 0


def test_mqtt_sigkill_under_load_loses_nothing_acknowledged(start_herald):
    herald = start_herald(mqtt_listeners=("mqtt",), mqtt=OPEN)
    for client_id, qos in SUBSCRIBERS.items():
        client = RawClient(herald.mqtt_port)
        client.connect(client_id, session_expiry=HOUR)
        assert client.subscribe("crash/load", qos) == qos
        client.disconnect()
    tally = Tally()
    stop = threading.Event()
    threads = [threading.Thread(target=publisher,
                                args=(herald.mqtt_port, 1 + i % 2, tally, stop, i), daemon=True)
               for i in range(PUBLISHERS)]
    for thread in threads:
        thread.start()
    rng = random.Random(9)
    retained = None
    try:
        for kill in range(KILLS):
            time.sleep(rng.uniform(*KILL_INTERVAL))
            if set_retained(herald.mqtt_port, kill):
                retained = kill
            herald.kill()
            herald.start()
        goal = max(MIN_MESSAGES, tally.sent + TAIL_MESSAGES)
        deadline = time.monotonic() + seconds(120)
        while tally.sent < goal and tally.sent < MAX_MESSAGES and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(seconds(20))

    if set_retained(herald.mqtt_port, "last"):
        retained = "last"
    herald.kill()
    herald.start()
    received = {client_id: read_queue(herald.mqtt_port, client_id) for client_id in SUBSCRIBERS}
    acknowledged = tally.acknowledged[1] | tally.acknowledged[2]
    print(f"\nMQTT crash test: {KILLS + 1} SIGKILLs, {tally.sent} PUBLISHes, "
          f"{len(tally.acknowledged[1])} PUBACKed (QoS 1), {len(tally.acknowledged[2])} PUBRECed "
          f"(QoS 2), {len(tally.unanswered)} cut off unanswered")
    for client_id, tokens in received.items():
        unique = set(tokens)
        print(f"  {client_id}: {len(tokens)} copies, {len(unique)} distinct, "
              f"{len(unique - acknowledged)} of them unanswered ones that were kept anyway")
        missing = acknowledged - unique
        assert not missing, f"{client_id} lacks {len(missing)} acknowledged: {sorted(missing)[:5]}"
        strangers = unique - acknowledged - tally.unanswered
        assert not strangers, f"{client_id} got tokens never sent: {sorted(strangers)[:5]}"
        if SUBSCRIBERS[client_id] == 2:
            twice = [t for t in unique if tokens.count(t) > 1 and t.startswith("q2-")]
            assert not twice, f"QoS 2 tokens stored or sent twice: {twice[:5]}"
    # The retained message: the last one acknowledged is what a new subscriber finds.
    reader = RawClient(herald.mqtt_port)
    reader.connect("crash-retained-reader")
    reader.subscribe("crash/retained", 1)
    kind, flags, body = reader.read()
    assert kind == PUBLISH and flags & 0x01, "no retained message after the crashes"
    _, _, payload = RawClient.parse_publish(flags, body)
    assert payload.decode() == f"generation {retained}"
    print(f"  retained: {payload.decode()!r}")
    reader.close()
