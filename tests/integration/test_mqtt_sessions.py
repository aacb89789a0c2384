"""`herald mqtt sessions` against a running heraldd: every connected session with its peer,
version, subscriptions, and what it has queued and in flight; nothing once they are gone,
and a clear word when heraldd is not running."""

from datetime import datetime

import pytest

from bounded_wait import seconds, wait_until
from mqtt_clients import V311, PahoClient, RawClient

OPEN = {"allow_anonymous": True, "anonymous_publish": ["#"], "anonymous_subscribe": ["#"]}
COLUMNS = ["CLIENT", "PEER", "VERSION", "CONNECTED", "SUBSCRIPTIONS", "QUEUED", "IN-FLIGHT",
           "BYTES"]


@pytest.fixture
def broker(start_herald):
    return start_herald(mqtt_listeners=("mqtt",), mqtt=OPEN)


def listed(herald, *options):
    """The rows of `herald mqtt sessions OPTIONS`, by client id (each a dict by column), and
    its last line. Client ids here hold no spaces, so a row splits on white space."""
    lines = herald.cli("mqtt", "sessions", *options).stdout.splitlines()
    rows = {}
    if len(lines) > 1:
        assert lines[0].split() == COLUMNS, lines[0]
        for line in lines[1:-1]:
            row = dict(zip(COLUMNS, line.split()))
            rows[row["CLIENT"]] = row
    return rows, lines[-1]


def test_sessions_show_what_each_has_queued_and_in_flight(broker):
    port = broker.mqtt_port
    assert listed(broker) == ({}, "0 sessions")

    slow = RawClient(port)
    slow.connect("slow", receive_maximum=1)
    assert slow.subscribe("readings/#", qos=1) == 1
    panel = PahoClient("panel", version=V311).connect(port)
    for i in range(3):
        panel.publish("readings/t", f"reading {i}", 1)
    kind, _, _ = slow.read()  # the first copy, never acknowledged: the window of one is full
    assert kind == 3, f"expected PUBLISH, got type {kind}"

    def settled():
        rows, last = listed(broker)
        return (rows, last) if rows.get("slow", {}).get("QUEUED") == "2" else None

    rows, last = wait_until(settled, seconds(10), "the two other copies to be listed as queued")
    assert last == "2 sessions"
    assert list(rows) == ["panel", "slow"], "in client id order"
    assert rows["slow"]["IN-FLIGHT"] == "1"
    assert rows["slow"]["SUBSCRIPTIONS"] == "1"
    assert rows["slow"]["VERSION"] == "5"
    assert int(rows["slow"]["BYTES"]) >= 3 * len("reading 0")
    assert (rows["panel"]["SUBSCRIPTIONS"], rows["panel"]["QUEUED"],
            rows["panel"]["IN-FLIGHT"], rows["panel"]["BYTES"]) == ("0", "0", "0", "0")
    assert rows["panel"]["VERSION"] == "3.1.1"
    for row in rows.values():
        assert row["PEER"].startswith("127.0.0.1:"), row
        connected = datetime.strptime(row["CONNECTED"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert abs((datetime.utcnow() - connected).total_seconds()) < 300, row
    assert listed(broker, "--all") == (rows, last)

    slow.close()
    panel.stop()
    wait_until(lambda: listed(broker) == ({}, "0 sessions"), seconds(10),
               "the sessions to leave the list once their connections closed")


def test_a_persistent_session_away_is_listed_offline_with_its_stored_queue(broker):
    port = broker.mqtt_port
    device = RawClient(port)
    device.connect("away", session_expiry=3600)
    device.subscribe("alarms/#", qos=1)
    device.disconnect()
    publisher = RawClient(port)
    publisher.connect("pub")
    for i in range(1, 4):
        publisher.publish("alarms/fire", f"alarm {i}", qos=1, packet_id=i)
        assert publisher.read()[0] == 4  # PUBACK
    publisher.disconnect()
    rows, last = wait_until(lambda: (lambda r: r if "pub" not in r[0] else None)(listed(broker)),
                            seconds(10), "the publisher to leave the list")
    assert last == "1 session"
    assert rows["away"]["PEER"] == "offline"
    assert rows["away"]["QUEUED"] == "3", "the copies waiting in the store"
    assert rows["away"]["SUBSCRIPTIONS"] == "1"


def test_without_heraldd_the_command_says_it_is_not_running(broker):
    socket_path = broker.data_dir / "control.sock"
    broker.stop()
    result = broker.cli("mqtt", "sessions", check=False)
    assert result.returncode == 1
    assert f"heraldd is not running (no control socket at {socket_path})" in result.stderr


def test_without_an_mqtt_listener_there_are_no_sessions(herald):
    assert listed(herald) == ({}, "0 sessions")
