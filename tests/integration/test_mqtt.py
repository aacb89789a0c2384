"""The MQTT face end to end, with the clients users run: mosquitto_pub / mosquitto_sub
(MQTT 3.1.1 and 5, QoS 0/1/2, TLS, username/password) and paho (wills, shared subscriptions,
aliases, flow control, request/response), and hostile clients that send what no client
should."""

import socket
import time

import pytest

from bounded_wait import seconds, wait_until
from mqtt_clients import MosquittoSub, PahoClient, RawClient, mosquitto_pub, user_properties
from test_submission import hash_password

OPEN = {"allow_anonymous": True, "anonymous_publish": ["#"], "anonymous_subscribe": ["#"],
        "deny": ["test/nosubscribe"]}


@pytest.fixture
def broker(start_herald):
    return start_herald(mqtt_listeners=("mqtt", "mqtts"), mqtt=OPEN)


def probe(port):
    return lambda: mosquitto_pub(port, "ready/probe", "x", check=False)


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_clients_carry_messages_at_every_qos(broker, version, qos):
    sub = MosquittoSub(broker.mqtt_port, "sensors/#", 3, "-V", version, "-q", str(qos))
    try:
        sub.wait_ready(probe(broker.mqtt_port))
        for i in range(3):
            mosquitto_pub(broker.mqtt_port, f"sensors/t{i}", f"reading {i}", "-V", version,
                          "-q", str(qos))
        assert sub.take(3) == [f"sensors/t{i} reading {i}" for i in range(3)]
    finally:
        sub.stop()


def test_tls_from_the_first_byte(broker):
    cert = broker.data_dir / "tls" / "cert.pem"
    tls = ["--cafile", str(cert), "--insecure"]  # the generated pair names mx.example.test
    sub = MosquittoSub(broker.mqtts_port, "secure/#", 1, *tls)
    try:
        sub.wait_ready(lambda: mosquitto_pub(broker.mqtts_port, "ready/probe", "x", *tls,
                                             check=False))
        mosquitto_pub(broker.mqtts_port, "secure/a", "over tls", *tls, "-q", "1")
        assert sub.take(1) == ["secure/a over tls"]
    finally:
        sub.stop()
    plain = mosquitto_pub(broker.mqtts_port, "secure/a", "x", check=False)
    assert plain.returncode != 0, "a plain client on the TLS port must not get through"


def test_devices_log_in_and_keep_to_their_topics(start_herald):
    code, hash_ = hash_password("sensor secret")
    assert code == 0, hash_
    herald = start_herald(mqtt_listeners=("mqtt",), mqtt={"allow_anonymous": False}, devices=[
        {"username": "sensor-1", "password_hash": hash_, "publish": ["home/sensor-1/#"],
         "subscribe": ["home/#"]}])
    port = herald.mqtt_port
    login = ["-u", "sensor-1", "-P", "sensor secret"]
    sub = MosquittoSub(port, "home/#", 1, *login, ready="home/sensor-1/ready")
    try:
        sub.wait_ready(lambda: mosquitto_pub(port, "home/sensor-1/ready", "x", *login,
                                             check=False))
        mosquitto_pub(port, "home/sensor-1/temp", "21.5", *login, "-q", "1")
        assert sub.take(1) == ["home/sensor-1/temp 21.5"]
    finally:
        sub.stop()

    wrong = mosquitto_pub(port, "home/sensor-1/temp", "x", "-u", "sensor-1", "-P", "nope",
                          check=False)
    assert wrong.returncode != 0 and "bad user name or password" in wrong.stderr.lower()
    anonymous = mosquitto_pub(port, "home/sensor-1/temp", "x", check=False)
    assert anonymous.returncode != 0 and "not authori" in anonymous.stderr.lower()

    device = RawClient(port)
    device.connect("sensor-1", username="sensor-1", password="sensor secret")
    device.publish("home/other/temp", "x", 1, 5)
    kind, _, body = device.read()
    assert kind == 4 and body[2] == 0x87, "outside its publish filters: not authorized"
    assert device.subscribe("away/#") == 0x87, "outside its subscribe filters"
    assert device.subscribe("home/+/temp") == 1
    device.close()


def test_password_guessing_is_limited_per_address(start_herald):
    """Past [limits] max_auth_failures wrong passwords from one address, even the right one
    is refused for the window, without crypt(3) work spent on the guesser."""
    code, hash_ = hash_password("right")
    assert code == 0, hash_
    herald = start_herald(mqtt_listeners=("mqtt",), limits={"max_auth_failures": 2},
                          mqtt={"allow_anonymous": False},
                          devices=[{"username": "d", "password_hash": hash_,
                                    "publish": ["d/#"], "subscribe": ["d/#"]}])
    for _ in range(2):
        RawClient(herald.mqtt_port).connect("g", username="d", password="wrong", expect=0x86)
    RawClient(herald.mqtt_port).connect("g", username="d", password="right", expect=0x86)
    assert "reason=too-many-failures" in herald.log_text()


def test_a_will_reaches_subscribers_when_a_device_vanishes(broker):
    watcher = PahoClient("watcher").connect(broker.mqtt_port)
    watcher.subscribe("status/#")
    device = PahoClient("device-7")
    device.connect(broker.mqtt_port, keepalive=60, will=("status/device-7", b"offline", 1))
    device.client.loop_stop()
    device.client.socket().close()  # no DISCONNECT: the connection just breaks
    (will,) = watcher.received(1)
    assert (will.topic, will.payload) == ("status/device-7", b"offline")
    watcher.stop()


def test_a_clean_disconnect_sends_no_will(broker):
    watcher = PahoClient("watcher").connect(broker.mqtt_port)
    watcher.subscribe("status/#")
    device = PahoClient("device-8").connect(broker.mqtt_port, will=("status/device-8", b"x", 1))
    device.stop()
    watcher.nothing_more(wait=1.0)
    watcher.stop()


def test_shared_subscriptions_share_and_identifiers_and_user_properties_arrive(broker):
    port = broker.mqtt_port
    members = [PahoClient(f"worker-{i}").connect(port) for i in range(2)]
    for m in members:
        m.subscribe("$share/workers/jobs/#")
    plain = PahoClient("plain").connect(port)
    plain.subscribe("jobs/#")
    publisher = PahoClient("boss").connect(port)
    for i in range(10):
        publisher.publish(f"jobs/{i}", f"job {i}", 1, properties=user_properties(kind="job"))
    got = [m.received(5) for m in members]
    assert sorted(msg.payload for batch in got for msg in batch) == sorted(
        f"job {i}".encode() for i in range(10)), "each job to exactly one worker"
    copies = plain.received(10)
    assert all(("kind", "job") in c.properties.UserProperty for c in copies)
    for client in (*members, plain, publisher):
        client.stop()


def test_request_response_carries_topic_and_correlation(broker):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    port = broker.mqtt_port
    server = PahoClient("responder").connect(port)
    server.subscribe("rpc/time")
    client = PahoClient("asker").connect(port)
    client.subscribe("rpc/replies/asker")
    request = Properties(PacketTypes.PUBLISH)
    request.ResponseTopic = "rpc/replies/asker"
    request.CorrelationData = b"req-1"
    client.publish("rpc/time", "now?", 1, properties=request)
    (incoming,) = server.received(1)
    assert incoming.properties.ResponseTopic == "rpc/replies/asker"
    reply = Properties(PacketTypes.PUBLISH)
    reply.CorrelationData = incoming.properties.CorrelationData
    server.publish(incoming.properties.ResponseTopic, "12:00", 1, properties=reply)
    (answer,) = client.received(1)
    assert (answer.payload, answer.properties.CorrelationData) == (b"12:00", b"req-1")
    server.stop()
    client.stop()


def test_priority_orders_a_backlog_and_a_full_window_waits(broker):
    port = broker.mqtt_port
    slow = RawClient(port)
    slow.connect("slow", receive_maximum=1)
    assert slow.subscribe("alarm/#", qos=1) == 1
    panel = PahoClient("panel").connect(port)
    # The first goes out and is left unacknowledged: the window of one is full, and the rest
    # wait in herald's queue, to leave by priority as the window opens.
    for payload, priority in (("first", "0"), ("low", "-5"), ("fire", "9"), ("normal", "0")):
        panel.publish("alarm/x", payload, 1, properties=user_properties(priority=priority))
    order = []
    for _ in range(4):
        kind, flags, body = slow.read()
        assert kind == 3, f"expected PUBLISH, got type {kind}"
        topic, packet_id, payload = RawClient.parse_publish(flags, body)
        order.append(payload.decode())
        slow.puback(packet_id)
    assert order == ["first", "fire", "normal", "low"]
    slow.close()
    panel.stop()


def test_refusals_carry_their_reason_codes(start_herald):
    herald = start_herald(mqtt_listeners=("mqtt",), mqtt={
        "allow_anonymous": True, "anonymous_publish": ["open/#"], "anonymous_subscribe": ["open/#"],
        "deny": ["open/secret"], "max_queued_messages": 2})
    client = RawClient(herald.mqtt_port)
    client.connect("c")
    assert client.subscribe("closed/#") == 0x87
    assert client.subscribe("open/secret") == 0x87
    for packet_id, topic, reason in ((1, "closed/x", 0x87), (2, "open/secret", 0x87),
                                     (3, "open/nobody", 0x10)):
        client.publish(topic, "x", 1, packet_id)
        kind, _, body = client.read()
        assert kind == 4 and body[:2] == packet_id.to_bytes(2, "big") and body[2] == reason, body
    # A subscriber that reads nothing: two copies fill its queue, the third is refused.
    stuck = RawClient(herald.mqtt_port)
    stuck.connect("stuck", receive_maximum=1)
    assert stuck.subscribe("open/q") == 1
    reasons = []
    for packet_id in range(10, 14):
        client.publish("open/q", "x", 1, packet_id)
        reasons.append(client.read()[2][2:3] or b"\x00")
    assert reasons[:2] == [b"\x00", b"\x00"] and b"\x97" in reasons, reasons
    client.close()
    stuck.close()


def test_session_expiry_is_capped_and_told(broker):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    connect = Properties(PacketTypes.CONNECT)
    connect.SessionExpiryInterval = 30 * 24 * 3600
    client = PahoClient("wants-a-month").connect(broker.mqtt_port, properties=connect,
                                                 clean_start=False)
    reason, properties = client.connack
    assert reason == 0
    assert properties.SessionExpiryInterval == 7 * 24 * 3600, "[mqtt] max_session_expiry"
    assert not hasattr(properties, "RetainAvailable"), "absent: retained messages are offered"
    client.stop()


# --- hostile clients ----------------------------------------------------------------------

def closed_within(sock, limit):
    sock.settimeout(limit)
    start = time.monotonic()
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return time.monotonic() - start, data


def test_garbage_and_silence_are_shown_the_door(start_herald):
    herald = start_herald(mqtt_listeners=("mqtt",), mqtt={**OPEN, "connect_timeout": "1s"})
    port = herald.mqtt_port
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        took, data = closed_within(s, seconds(5))
        assert data == b"" and took < seconds(5), "not MQTT: closed without a word"
    with socket.create_connection(("127.0.0.1", port)) as s:
        took, data = closed_within(s, seconds(10))
        assert data == b"" and took < seconds(8), "no CONNECT within connect_timeout"
    # A CONNECT announcing a body far over max_packet_size: refused from the fixed header.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(bytes([0x10, 0xFF, 0xFF, 0xFF, 0x7F]))
        took, data = closed_within(s, seconds(5))
        assert took < seconds(5)
    # Keep alive 1 s and then silence: DISCONNECT 0x8D after 1.5 s (MQTT 5 3.1.2.10).
    sleepy = RawClient(port)
    sleepy.connect("sleepy", keep_alive=1)
    took, data = closed_within(sleepy.sock, seconds(10))
    assert data == bytes([0xE0, 0x01, 0x8D]) and 1.2 < took < seconds(4), (data, took)
    sleepy.close()


def test_a_packet_trickled_a_byte_at_a_time_does_not_keep_a_connection(start_herald):
    """Keep alive counts whole packets (MQTT 5 3.1.2.10), not bytes: a client that sends one
    PUBLISH a byte every 0.3 s is closed 1.5 keep-alives after its last whole packet."""
    herald = start_herald(mqtt_listeners=("mqtt",), mqtt=OPEN)
    slow = RawClient(herald.mqtt_port)
    slow.connect("trickler", keep_alive=1)
    packet = bytes([0x30, 0x7F, 0x00, 0x01, ord("t")]) + b"x" * 123
    start = time.monotonic()
    closed = False
    for byte in packet:
        try:
            slow.sock.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        time.sleep(0.3)
        if time.monotonic() - start > seconds(6):
            break
    took, data = closed_within(slow.sock, seconds(5))
    assert closed or data.endswith(bytes([0xE0, 0x01, 0x8D])), data
    assert time.monotonic() - start < seconds(8), "the trickle kept the connection open"
    slow.close()


def test_connections_per_address_are_limited(start_herald):
    herald = start_herald(mqtt_listeners=("mqtt",),
                          mqtt={**OPEN, "max_connections_per_ip": 3})
    held = [PahoClient(f"c{i}").connect(herald.mqtt_port) for i in range(3)]
    with socket.create_connection(("127.0.0.1", herald.mqtt_port)) as s:
        took, data = closed_within(s, seconds(5))
        assert data == b"" and took < seconds(5), "the fourth connection is closed at once"
    for c in held:
        c.stop()


def test_a_device_added_to_the_file_logs_in_after_sighup(start_herald):
    from test_reload import hang_up
    code, hash_ = hash_password("pump secret")
    assert code == 0, hash_
    herald = start_herald(mqtt_listeners=("mqtt",), mqtt={"allow_anonymous": False})
    RawClient(herald.mqtt_port).connect("pump", username="pump-1", password="pump secret",
                                        expect=0x86)
    herald.config.write_text(
        herald.config.read_text() + f'\n[[device]]\nusername = "pump-1"\n'
        f'password_hash = "{hash_}"\npublish = ["pumps/#"]\nsubscribe = ["pumps/#"]\n')
    hang_up(herald, "reloaded ")
    log = herald.log_text()
    assert "reload: [[device]] changed; applied to new sessions and attempts" in log, log
    assert "reload: mqtt devices=1 allow_anonymous=false" in log, log
    device = RawClient(herald.mqtt_port)
    device.connect("pump", username="pump-1", password="pump secret")
    assert device.subscribe("pumps/1/#", qos=1) == 1
    assert device.subscribe("other/#", qos=1) == 0x87, "its filters came with it"
    device.close()
