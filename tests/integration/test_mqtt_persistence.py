"""Persistent MQTT sessions (session expiry > 0) kept in the store: what is published while
a device is away waits for it, in priority order, through SIGKILL; a PUBACK means the copy
is on disk; session expiry, clean start and message expiry end what they should; a QoS 2
PUBLISH sent again after a crash is still one message."""

import socket
import subprocess
import time

import pytest

from bounded_wait import seconds, wait_until
from mqtt_clients import PahoClient, RawClient, mosquitto_pub, user_properties
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

OPEN = {"allow_anonymous": True, "anonymous_publish": ["#"], "anonymous_subscribe": ["#"]}
HOUR = 3600
SUCCESS, NO_MATCHING_SUBSCRIBERS = 0x00, 0x10
PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 3, 4, 5, 6, 7


@pytest.fixture
def herald(start_herald):
    return start_herald(mqtt_listeners=("mqtt",), mqtt=OPEN)


def persistent_subscriber(port, client_id, topic_filter, qos=1, expiry=HOUR):
    """A session that subscribes and goes away, its expiry running."""
    client = RawClient(port)
    assert client.connect(client_id, session_expiry=expiry) is False
    assert client.subscribe(topic_filter, qos) == qos
    client.disconnect()


def publish_acked(port, topic, payloads, qos=1, properties=lambda i: {}):
    """Publishes each payload from one connection; returns the reason code of each answer."""
    client = RawClient(port)
    client.connect("publisher")
    reasons = []
    for i, payload in enumerate(payloads, start=1):
        client.publish(topic, payload, qos=qos, packet_id=i, **properties(i))
        kind, _, body = client.read()
        assert kind == (PUBACK if qos == 1 else PUBREC), f"answer type {kind}"
        packet_id, reason = RawClient.ack_of(body)
        assert packet_id == i
        if qos == 2 and reason < 0x80:
            client.pubrel(i)
            kind, _, body = client.read()
            assert kind == PUBCOMP
        reasons.append(reason)
    client.disconnect()
    return reasons


def drain(client, count, ack=True):
    """The next `count` PUBLISHes as (topic, payload, flags), each acknowledged."""
    out = []
    while len(out) < count:
        packet = client.read()
        assert packet is not None, f"connection closed after {len(out)} of {count} messages"
        kind, flags, body = packet
        if kind == PUBREL and ack:
            client.pubcomp(RawClient.ack_of(body)[0])
            continue
        if kind != PUBLISH:
            continue
        topic, packet_id, payload = RawClient.parse_publish(flags, body)
        out.append((topic, payload.decode(), flags))
        if ack and packet_id is not None:
            (client.pubrec if flags & 0x06 == 0x04 else client.puback)(packet_id)
    return out


def nothing_arrives(client, wait=0.7):
    """No PUBLISH within `wait` (the PUBRELs of exchanges still open are answered)."""
    client.sock.settimeout(wait)
    try:
        while True:
            packet = client.read()
            if packet is None or packet[0] != PUBREL:
                break
            client.pubcomp(RawClient.ack_of(packet[2])[0])
    except socket.timeout:
        return True
    finally:
        client.sock.settimeout(seconds(10))
    raise AssertionError(f"unexpected packet {packet!r}")


def test_what_is_published_while_a_device_is_away_waits_for_it(herald):
    persistent_subscriber(herald.mqtt_port, "pump-7", "plant/#")
    reasons = publish_acked(herald.mqtt_port, "plant/pressure", [f"bar {i}" for i in range(5)])
    # A success: the offline session took each one, on disk.
    assert reasons == [SUCCESS] * 5
    device = RawClient(herald.mqtt_port)
    assert device.connect("pump-7", session_expiry=HOUR, clean_start=False) is True
    got = drain(device, 5)
    assert [payload for _, payload, _ in got] == [f"bar {i}" for i in range(5)]
    assert nothing_arrives(device)
    device.disconnect()
    # Acknowledged copies are done: a second return brings nothing again.
    device = RawClient(herald.mqtt_port)
    assert device.connect("pump-7", session_expiry=HOUR, clean_start=False) is True
    assert nothing_arrives(device)
    device.close()


def test_the_offline_queue_and_the_subscriptions_survive_sigkill(herald):
    persistent_subscriber(herald.mqtt_port, "valve-2", "plant/+/alarm", qos=2)
    reasons = publish_acked(herald.mqtt_port, "plant/boiler/alarm",
                            [f"alarm {i}" for i in range(4)], qos=2)
    assert reasons == [SUCCESS] * 4
    herald.kill()
    herald.start()
    # The subscription came back from the store: a new PUBLISH still finds the session.
    assert publish_acked(herald.mqtt_port, "plant/boiler/alarm", ["alarm 4"], qos=1) == [SUCCESS]
    device = RawClient(herald.mqtt_port)
    assert device.connect("valve-2", session_expiry=HOUR, clean_start=False) is True
    got = drain(device, 5)
    assert [payload for _, payload, _ in got] == [f"alarm {i}" for i in range(5)]
    # Copies keep the lower of the two QoS: 2 for the first four, 1 for the last.
    assert [(flags >> 1) & 3 for _, _, flags in got] == [2, 2, 2, 2, 1]
    assert nothing_arrives(device)
    device.close()


def test_priority_orders_the_offline_queue(herald):
    persistent_subscriber(herald.mqtt_port, "pager", "page/#")
    priorities = [0, -5, 9, 0, 3]
    publish_acked(herald.mqtt_port, "page/on-call", [f"p{p} #{i}" for i, p in
                                                    enumerate(priorities)],
                  properties=lambda i: {"user_properties": [("priority",
                                                            str(priorities[i - 1]))]})
    device = RawClient(herald.mqtt_port)
    device.connect("pager", session_expiry=HOUR, clean_start=False)
    got = [payload for _, payload, _ in drain(device, 5)]
    assert got == ["p9 #2", "p3 #4", "p0 #0", "p0 #3", "p-5 #1"]
    device.close()


def test_clean_start_ends_the_stored_session(herald):
    persistent_subscriber(herald.mqtt_port, "door", "door/#")
    publish_acked(herald.mqtt_port, "door/front", ["opened"])
    device = RawClient(herald.mqtt_port)
    assert device.connect("door", session_expiry=HOUR, clean_start=True) is False
    assert nothing_arrives(device)
    device.disconnect()
    # Nothing subscribes any more: the new session has no subscriptions.
    assert publish_acked(herald.mqtt_port, "door/front", ["closed"]) == [NO_MATCHING_SUBSCRIBERS]
    trace = herald.log_text()
    assert "mqtt session ended client='door' reason='session ended' discarded=1" in trace


def test_an_expired_session_is_gone_with_its_queue(herald):
    persistent_subscriber(herald.mqtt_port, "meter", "meter/#", expiry=2)
    assert publish_acked(herald.mqtt_port, "meter/kwh", ["12.5"]) == [SUCCESS]
    wait_until(lambda: "client='meter' reason='session expired' discarded=1" in herald.log_text(),
               seconds(10), "the session to expire")
    assert publish_acked(herald.mqtt_port, "meter/kwh", ["12.6"]) == [NO_MATCHING_SUBSCRIBERS]
    device = RawClient(herald.mqtt_port)
    assert device.connect("meter", session_expiry=HOUR, clean_start=False) is False
    assert nothing_arrives(device)
    device.close()


def test_a_disconnect_with_expiry_zero_ends_the_session(herald):
    client = RawClient(herald.mqtt_port)
    client.connect("briefly", session_expiry=HOUR)
    client.subscribe("brief/#", 1)
    client.disconnect(session_expiry=0)
    wait_until(lambda: "client='briefly' reason='session ended'" in herald.log_text(),
               seconds(10), "the session to end")
    assert publish_acked(herald.mqtt_port, "brief/x", ["x"]) == [NO_MATCHING_SUBSCRIBERS]


def test_message_expiry_counts_down_across_a_restart(herald):
    persistent_subscriber(herald.mqtt_port, "display", "news/#")
    publish_acked(herald.mqtt_port, "news/flash", ["short-lived", "long-lived"],
                  properties=lambda i: {"expiry": 2 if i == 1 else HOUR})
    herald.kill()
    time.sleep(2.5)
    herald.start()
    device = RawClient(herald.mqtt_port)
    device.connect("display", session_expiry=HOUR, clean_start=False)
    got = drain(device, 1)
    assert [payload for _, payload, _ in got] == ["long-lived"]
    assert nothing_arrives(device)
    device.close()


def test_a_qos2_publish_sent_again_after_a_crash_is_one_message(herald):
    persistent_subscriber(herald.mqtt_port, "siren", "fire/#", qos=2)
    publisher = RawClient(herald.mqtt_port)
    publisher.connect("smoke-detector", session_expiry=HOUR)
    publisher.publish("fire/hall", "smoke", qos=2, packet_id=7)
    kind, _, body = publisher.read()
    assert kind == PUBREC and RawClient.ack_of(body) == (7, SUCCESS)
    herald.kill()
    publisher.close()
    herald.start()
    # The detector never saw PUBCOMP: it resumes its session and sends the PUBLISH again.
    publisher = RawClient(herald.mqtt_port)
    assert publisher.connect("smoke-detector", session_expiry=HOUR, clean_start=False) is True
    publisher.publish("fire/hall", "smoke", qos=2, packet_id=7, dup=True)
    kind, _, body = publisher.read()
    assert kind == PUBREC and RawClient.ack_of(body) == (7, SUCCESS)
    publisher.pubrel(7)
    kind, _, body = publisher.read()
    assert kind == PUBCOMP and RawClient.ack_of(body) == (7, SUCCESS)
    # The packet id is free again: a new message with it is a new message.
    publisher.publish("fire/hall", "all clear", qos=2, packet_id=7)
    kind, _, body = publisher.read()
    assert kind == PUBREC and RawClient.ack_of(body) == (7, SUCCESS)
    publisher.pubrel(7)
    assert publisher.read()[0] == PUBCOMP
    publisher.disconnect()
    siren = RawClient(herald.mqtt_port)
    siren.connect("siren", session_expiry=HOUR, clean_start=False)
    got = [payload for _, payload, _ in drain(siren, 2)]
    assert got == ["smoke", "all clear"]
    assert nothing_arrives(siren)
    siren.close()


def test_an_online_persistent_session_gets_copies_as_they_are_committed(herald):
    device = PahoClient("gateway")
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = HOUR
    device.connect(herald.mqtt_port, properties=properties)
    try:
        device.subscribe("live/#", qos=1)
        sender = PahoClient("sender")
        sender.connect(herald.mqtt_port)
        for i in range(20):
            sender.publish("live/reading", f"r{i}", qos=1)
        sender.stop()
        got = [m.payload.decode() for m in device.received(20)]
        assert got == [f"r{i}" for i in range(20)]
        device.nothing_more()
    finally:
        device.stop()


def retained_now(port, topic, *options):
    """What mosquitto_sub gets at once on subscribing: retained messages only (-R would drop
    them; --retained-only stops at the first message that is not retained)."""
    result = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-v",
         "--retained-only", "-W", "2", *options],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds(30))
    return sorted(result.stdout.splitlines())


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_retained_messages_with_mosquitto_clients_survive_sigkill(herald, version):
    port = herald.mqtt_port
    mosquitto_pub(port, "home/thermostat", "21.5", "-r", "-q", "1", "-V", version)
    mosquitto_pub(port, "home/door", "closed", "-r", "-q", "2", "-V", version)
    mosquitto_pub(port, "home/door", "open", "-r", "-q", "1", "-V", version)
    assert retained_now(port, "home/#", "-V", version) == ["home/door open",
                                                           "home/thermostat 21.5"]
    herald.kill()
    herald.start()
    assert retained_now(port, "home/#", "-V", version) == ["home/door open",
                                                           "home/thermostat 21.5"]
    # An empty retained payload clears the topic's retained message.
    mosquitto_pub(port, "home/door", "", "-r", "-q", "1", "-V", version)
    assert retained_now(port, "home/+", "-V", version) == ["home/thermostat 21.5"]


def test_a_retained_will_is_kept(herald):
    device = PahoClient("boiler")
    device.client.will_set("status/boiler", "offline", qos=1, retain=True)
    device.connect(herald.mqtt_port)
    device.client.loop_stop()
    device.client.socket().close()  # a broken connection: the will goes out
    wait_until(lambda: retained_now(herald.mqtt_port, "status/#") == ["status/boiler offline"],
               seconds(10), "the retained will")


def message_id_of(body):
    """The user property message-id of a PUBACK/PUBREC body (herald names kept messages)."""
    if len(body) < 4:
        return None
    length, shift, i = 0, 0, 3
    while True:
        length |= (body[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not body[i - 1] & 0x80:
            break
    properties, found = body[i:i + length], {}
    j = 0
    while j < len(properties):
        assert properties[j] == 0x26, f"unexpected property {properties[j]:#x}"
        key_length = int.from_bytes(properties[j + 1:j + 3], "big")
        key = properties[j + 3:j + 3 + key_length].decode()
        j += 3 + key_length
        value_length = int.from_bytes(properties[j:j + 2], "big")
        found[key] = properties[j + 2:j + 2 + value_length].decode()
        j += 2 + value_length
    return found.get("message-id")


def test_the_ledger_tells_what_became_of_a_kept_message(herald):
    persistent_subscriber(herald.mqtt_port, "tracker", "fleet/#")
    publisher = RawClient(herald.mqtt_port)
    publisher.connect("truck-9")
    publisher.publish("fleet/truck-9/position", "52.52,13.40", qos=1, packet_id=1)
    kind, _, body = publisher.read()
    assert kind == PUBACK and RawClient.ack_of(body)[1] == SUCCESS
    message_id = message_id_of(body)
    assert message_id, "the PUBACK names the message"
    publisher.disconnect()
    trace = herald.trace(message_id)
    assert "topic=fleet/truck-9/position" in trace.header_line("mqtt")
    received = trace.events_of("received")
    assert received and received[0][2]["client"] == "truck-9" and received[0][2]["qos"] == "1"
    assert [e[1] for e in trace.events_of("queued")] == ["tracker"]
    device = RawClient(herald.mqtt_port)
    device.connect("tracker", session_expiry=HOUR, clean_start=False)
    drain(device, 1)
    device.disconnect()
    delivered = herald.wait_for_event(message_id, "delivered")
    assert delivered[0][1] == "tracker" and delivered[0][2]["via"] == "PUBACK"


def test_a_full_offline_queue_refuses_with_0x97_across_a_restart(start_herald):
    herald = start_herald(mqtt_listeners=("mqtt",), mqtt={**OPEN, "max_queued_messages": 3})
    persistent_subscriber(herald.mqtt_port, "buoy", "sea/#")
    assert publish_acked(herald.mqtt_port, "sea/wave", ["1", "2"]) == [SUCCESS, SUCCESS]
    herald.kill()
    herald.start()
    # The queue's count came back from the store: one more fits, then it is full.
    assert publish_acked(herald.mqtt_port, "sea/wave", ["3", "4"]) == [SUCCESS, 0x97]
    buoy = RawClient(herald.mqtt_port)
    buoy.connect("buoy", session_expiry=HOUR, clean_start=False)
    assert [payload for _, payload, _ in drain(buoy, 3)] == ["1", "2", "3"]
    buoy.disconnect()
    # Delivered copies made room again (their marks are written as the answers come).
    wait_until(lambda: publish_acked(herald.mqtt_port, "sea/wave", ["5"]) == [SUCCESS],
               seconds(10), "room in the queue")


def delayed_will_device(port, client_id, delay):
    """A persistent session whose will ("<client_id> offline" on alarm/<client_id>) waits
    `delay` seconds after the connection ends (MQTT 5 3.1.3.2.2)."""
    device = PahoClient(client_id)
    will_properties = Properties(PacketTypes.WILLMESSAGE)
    will_properties.WillDelayInterval = delay
    device.client.will_set(f"alarm/{client_id}", f"{client_id} offline", qos=1,
                           properties=will_properties)
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 60
    return device.connect(port, properties=properties)


def drop_connection(device):
    """The network goes: no DISCONNECT, the socket just closes."""
    device.client.loop_stop()
    device.client.socket().close()


def test_a_will_waits_out_its_delay(herald):
    watcher = PahoClient("watcher").connect(herald.mqtt_port)
    try:
        watcher.subscribe("alarm/#", qos=1)
        device = delayed_will_device(herald.mqtt_port, "sensor", 2)
        drop_connection(device)
        dropped = time.monotonic()
        watcher.nothing_more(wait=1.5)
        will = watcher.received(1, timeout=5)[0]
        waited = time.monotonic() - dropped
        assert (will.topic, will.payload) == ("alarm/sensor", b"sensor offline")
        # Two seconds from herald seeing the close, published by the one-second sweep.
        assert 1.9 <= waited <= seconds(4.5), f"the will came after {waited:.1f}s"
        watcher.nothing_more()
    finally:
        watcher.stop()


def test_a_reconnect_within_the_will_delay_cancels_the_will(herald):
    watcher = PahoClient("watcher").connect(herald.mqtt_port)
    try:
        watcher.subscribe("alarm/#", qos=1)
        device = delayed_will_device(herald.mqtt_port, "sensor", 2)
        drop_connection(device)
        time.sleep(0.5)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 60
        again = PahoClient("sensor").connect(herald.mqtt_port, properties=properties,
                                             clean_start=False)
        try:
            assert again.session_present, "the session was resumed"
            watcher.nothing_more(wait=4)  # twice the delay, and the sweep's second
        finally:
            again.stop()
        watcher.nothing_more(wait=1)  # a normal DISCONNECT, and no will on this connection
    finally:
        watcher.stop()
