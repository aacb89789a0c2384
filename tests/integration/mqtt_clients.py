"""Real MQTT clients for the end-to-end tests: Debian's mosquitto_pub / mosquitto_sub, and
python3-paho-mqtt (1.6) for what those cannot do (wills, shared subscriptions, flow control,
request/response). Every wait is bounded."""

import queue
import socket
import subprocess
import threading

import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

from bounded_wait import seconds, wait_until

V5 = paho.MQTTv5
V311 = paho.MQTTv311


class PahoClient:
    """A paho client on its own network thread; what it receives lands in `messages` (a
    queue of paho MQTTMessage), and its CONNACK reason in `connack`."""

    def __init__(self, client_id, version=V5, username=None, password=None):
        self.version = version
        self.client = paho.Client(client_id=client_id, protocol=version)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.messages = queue.Queue()
        self.connack = None
        self.session_present = None
        self.disconnect_reason = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, reason, properties=None):
        self.connack = (reason, properties)
        self.session_present = bool(flags.get("session present"))
        self.connected.set()

    def _on_disconnect(self, client, userdata, reason, properties=None):
        self.disconnect_reason = reason
        self.disconnected.set()

    def connect(self, port, keepalive=60, properties=None, will=None, clean_start=True):
        if will:
            topic, payload, qos = will
            self.client.will_set(topic, payload, qos)
        if self.version == V5:
            self.client.connect("127.0.0.1", port, keepalive, clean_start=clean_start,
                                properties=properties)
        else:
            self.client.connect("127.0.0.1", port, keepalive)
        self.client.loop_start()
        assert self.connected.wait(seconds(10)), "no CONNACK"
        return self

    def subscribe(self, topic, qos=1, **options):
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        if self.version == V5:
            self.client.subscribe(topic, options=paho.SubscribeOptions(qos=qos, **options))
        else:
            self.client.subscribe(topic, qos)
        assert done.wait(seconds(10)), f"no SUBACK for {topic}"

    def publish(self, topic, payload, qos=1, properties=None):
        info = self.client.publish(topic, payload, qos, properties=properties)
        info.wait_for_publish(seconds(10))
        assert info.is_published(), f"publish to {topic} not acknowledged"
        return info

    def received(self, count, timeout=10):
        out = []
        for _ in range(count):
            out.append(self.messages.get(timeout=seconds(timeout)))
        return out

    def nothing_more(self, wait=0.5):
        try:
            extra = self.messages.get(timeout=wait)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message on {extra.topic}: {extra.payload!r}")

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def user_properties(**pairs):
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = list(pairs.items())
    return properties


class MosquittoSub:
    """mosquitto_sub in the background, printing `topic payload` lines; `ready` is a topic it
    also subscribes to, so that a test knows the subscription is in place before it
    publishes (mosquitto_sub has no other way of telling)."""

    def __init__(self, port, topic, count, *options, ready="ready/probe"):
        self.ready = ready
        self.process = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-t", ready,
             "-v", "-W", str(int(seconds(30))), *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.count = count
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_ready(self, publish_probe):
        """Calls publish_probe() until mosquitto_sub prints the probe (bounded)."""
        def seen():
            publish_probe()
            try:
                while True:
                    if self.lines.get(timeout=0.2).startswith(self.ready):
                        return True
            except queue.Empty:
                return False
        wait_until(seen, seconds(15), "mosquitto_sub to be subscribed")

    def take(self, count):
        return [self.lines.get(timeout=seconds(15)) for _ in range(count)]

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(seconds(10))


def mosquitto_pub(port, topic, message, *options, check=True):
    result = subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-m", message,
         *options],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds(30))
    if check:
        assert result.returncode == 0, f"mosquitto_pub failed: {result.stderr}"
    return result


# --- a raw MQTT 5 client, for what must be seen byte by byte (reason codes paho 1.6 does not
# hand over, acknowledgements held back on purpose) -------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s):
    data = s.encode() if isinstance(s, str) else s
    return len(data).to_bytes(2, "big") + data


def _packet(first_byte, body):
    return bytes([first_byte]) + _varint(len(body)) + body


class RawClient:
    """MQTT 5 over a plain socket: connect(), subscribe(), publish(), puback(), and read()
    returning (type, flags, body) of the next packet (None when the server closed)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=seconds(10))
        self.buffer = b""

    def connect(self, client_id, receive_maximum=None, username=None, password=None,
                keep_alive=60, expect=0, session_expiry=None, clean_start=True):
        """Returns whether the CONNACK says a session was present."""
        properties = b""
        if session_expiry is not None:
            properties += b"\x11" + session_expiry.to_bytes(4, "big")
        if receive_maximum is not None:
            properties += b"\x21" + receive_maximum.to_bytes(2, "big")
        flags = ((0x02 if clean_start else 0) | (0x80 if username is not None else 0)
                 | (0x40 if password is not None else 0))
        body = _string("MQTT") + bytes([5, flags]) + keep_alive.to_bytes(2, "big") + _varint(
            len(properties)) + properties + _string(client_id)
        for field in (username, password):
            if field is not None:
                body += _string(field)
        self.sock.sendall(_packet(0x10, body))
        kind, _, body = self.read()
        assert kind == 2 and body[1] == expect, f"CONNACK {body!r}, expected reason {expect:#x}"
        return bool(body[0] & 1)

    def subscribe(self, topic_filter, qos=1, packet_id=1):
        body = packet_id.to_bytes(2, "big") + b"\x00" + _string(topic_filter) + bytes([qos])
        self.sock.sendall(_packet(0x82, body))
        kind, _, body = self.read()
        assert kind == 9, f"expected SUBACK, got type {kind}"
        return body[-1]  # the reason code of the one filter

    def publish(self, topic, payload, qos=1, packet_id=1, user_properties=(), dup=False,
                expiry=None, retain=False):
        properties = b"".join(b"\x26" + _string(k) + _string(v) for k, v in user_properties)
        if expiry is not None:
            properties = b"\x02" + expiry.to_bytes(4, "big") + properties
        body = _string(topic) + (packet_id.to_bytes(2, "big") if qos else b"") + _varint(
            len(properties)) + properties + (payload.encode() if isinstance(payload, str)
                                             else payload)
        self.sock.sendall(_packet(0x30 | (qos << 1) | (0x08 if dup else 0) | (0x01 if retain else 0),
                                  body))

    def puback(self, packet_id):
        self.sock.sendall(_packet(0x40, packet_id.to_bytes(2, "big")))

    def pubrec(self, packet_id):
        self.sock.sendall(_packet(0x50, packet_id.to_bytes(2, "big")))

    def pubrel(self, packet_id):
        self.sock.sendall(_packet(0x62, packet_id.to_bytes(2, "big")))

    def pubcomp(self, packet_id):
        self.sock.sendall(_packet(0x70, packet_id.to_bytes(2, "big")))

    def disconnect(self, session_expiry=None):
        properties = b"" if session_expiry is None else b"\x11" + session_expiry.to_bytes(4, "big")
        body = b"\x00" + _varint(len(properties)) + properties
        self.sock.sendall(_packet(0xE0, body))
        self.close()

    @staticmethod
    def ack_of(body):
        """(packet id, reason code) of a PUBACK, PUBREC, PUBREL or PUBCOMP body."""
        return int.from_bytes(body[:2], "big"), (body[2] if len(body) > 2 else 0)

    def _complete_packet(self):
        """(type, flags, body) of the packet at the start of the buffer, or None."""
        length, shift = 0, 0
        for i in range(1, min(len(self.buffer), 5)):
            length |= (self.buffer[i] & 0x7F) << shift
            shift += 7
            if not self.buffer[i] & 0x80:
                end = i + 1 + length
                if len(self.buffer) < end:
                    return None
                first, body = self.buffer[0], self.buffer[i + 1:end]
                self.buffer = self.buffer[end:]
                return first >> 4, first & 0x0F, body
        return None

    def read(self):
        while True:
            packet = self._complete_packet()
            if packet:
                return packet
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk

    @staticmethod
    def parse_publish(flags, body):
        """(topic, packet id or None, payload) of a PUBLISH body in MQTT 5."""
        topic_length = int.from_bytes(body[:2], "big")
        topic, rest = body[2:2 + topic_length].decode(), body[2 + topic_length:]
        packet_id = None
        if flags & 0x06:
            packet_id, rest = int.from_bytes(rest[:2], "big"), rest[2:]
        length, shift, i = 0, 0, 0
        while True:
            length |= (rest[i] & 0x7F) << shift
            shift += 7
            i += 1
            if not rest[i - 1] & 0x80:
                break
        return topic, packet_id, rest[i + length:]

    def close(self):
        self.sock.close()
