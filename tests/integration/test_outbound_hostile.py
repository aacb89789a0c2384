"""Outbound delivery against destinations that would hold herald or send mail back to it,
with real peers on loopback: nsd answers the MX queries, tarpits accept TCP and never greet,
an aiosmtpd MTA receives, and heraldd itself is the destination of a looping [[route]].

Covered (issue 8): tarpit MX hosts beside a healthy one (each wait has a deadline, the
deferral says which, and a healthy domain's mail is delivered meanwhile), and a mail loop
through a [[route]] (bounced 5.4.6 at once, no hop through heraldd).
"""

import pytest

from bounded_wait import seconds, wait_until
from dns_zone import Zone
from loopback_ports import free_port
from relay_support import ALICE, Submitter, read_dsn, recipient_block, relay_options, tokens_at
from tarpit import Tarpit


@pytest.fixture
def start_tarpit():
    tarpits = []

    def start(host, port):
        tarpit = Tarpit(host, port)
        tarpits.append(tarpit)
        return tarpit

    yield start
    for tarpit in tarpits:
        tarpit.stop()


def ledger(daemon, message_id, event_type, recipient):
    return [fields for kind, rcpt, fields in daemon.trace(message_id).events
            if kind == event_type and rcpt.lower() == recipient.lower()]


# Today's queue runner still gives each remote attempt a worker thread (the transport's
# attempts are coroutines, the runner's blocking adapter waits on them): the per-destination
# limit (10 + 10 for the two tarpit domains) is kept below [queue] remote_delivery_workers
# (32), so a worker is free for the healthy domain. Once the queue core starts attempts
# without a thread, the same holds whatever the two numbers are.
def test_tarpit_mx_hosts_beside_a_healthy_one(start_herald, start_nsd, start_peer, start_tarpit,
                                               alice_hash):
    port = free_port("127.0.0.41")
    tarpits = [start_tarpit("127.0.0.41", port), start_tarpit("127.0.0.42", port)]
    healthy = start_peer("127.0.0.43", port, name="mx1.healthy.test")
    dns = start_nsd([Zone("tarpit1.test").mx(10, "mx1.tarpit1.test").a("mx1", "127.0.0.41"),
                     Zone("tarpit2.test").mx(10, "mx1.tarpit2.test").a("mx1", "127.0.0.42"),
                     Zone("healthy.test").mx(10, "mx1.healthy.test").a("mx1", "127.0.0.43")])
    herald = start_herald(**relay_options(
        alice_hash, dns, mx_port=port, outbound={"greeting_timeout": "3s"},
        queue={"max_connections_per_destination": 10, "remote_delivery_workers": 32}))

    held = []
    with Submitter(herald) as submitter:
        for i in range(120):
            recipient = f"user{i}@tarpit{1 + i % 2}.test"
            held.append((submitter.send([recipient]), recipient))
        wait_until(lambda: all(t.connections >= 10 for t in tarpits), seconds(30),
                   "both tarpits to hold their destination's connections")
        fine = submitter.send(["hana@healthy.test"])

    def delivered():
        return ledger(herald, fine.message_id, "delivered", "hana@healthy.test")
    [fields] = wait_until(delivered, seconds(60), "the healthy domain's delivery")
    assert "127.0.0.43" in fields["remote"], fields
    assert tokens_at(healthy) == [fine.token]

    # The first message to each tarpit has been deferred, and the reply says what timed out.
    for sent, recipient in held[:2]:
        def deferred():
            return ledger(herald, sent.message_id, "deferred", recipient)
        [first, *_] = wait_until(deferred, seconds(60), f"a deferral of {recipient}")
        assert first["reply"].startswith("4.4.1 no mail host of"), first
        assert "timeout after 3s (greeting_timeout) waiting for the greeting from" in first[
            "reply"], first
        assert ledger(herald, sent.message_id, "delivered", recipient) == []


def test_route_back_to_heralds_own_listener_bounces_5_4_6_without_a_hop(start_herald,
                                                                        alice_hash):
    herald = start_herald(**relay_options(alice_hash))
    # The route names heraldd's own port 25 listener, known only once the daemon has one.
    herald.stop()
    herald.config.write_text(herald.config.read_text() +
                             f'\n[[route]]\ndomain = "loop.test"\nto = "127.0.0.1:{herald.port}"\n')
    herald.start()

    with Submitter(herald) as submitter:
        sent = submitter.send(["ivan@loop.test"])

    def bounced():
        return ledger(herald, sent.message_id, "bounced", "ivan@loop.test")
    [fields] = wait_until(bounced, seconds(30), "the looping delivery's bounce")
    assert fields["reply"].startswith("554 5.4.6 mail for loop.test would loop back to herald"), \
        fields
    assert f"127.0.0.1 is where herald listens, on port {herald.port}" in fields["reply"], fields
    assert ledger(herald, sent.message_id, "deferred", "ivan@loop.test") == []
    # No hop: heraldd never took the message in again (only alice's submission was accepted).
    assert herald.log_text().count("accepted id=") == 1, herald.log_text()
    [path] = herald.wait_for_messages(ALICE, 1)
    block = recipient_block(read_dsn(path), "ivan@loop.test")
    assert block["Status"].strip() == "5.4.6", block["Status"]
