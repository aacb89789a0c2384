"""Outbound relay end to end, with real peers on loopback: nsd answers the MX and A queries
(dns_zone.py), scripted aiosmtpd MTAs receive (smtp_peer.py), swaks-like clients submit
(smtplib, authenticated on the submission listener or as a trusted-network client on port 25).

Covered: relay permission (AUTH, trusted_networks, 554 otherwise), delivery with the remote
reply in the ledger, retries after 451 and after a dropped connection, bounces and their DSNs
(RFC 3464) to authenticated senders only, null MX (RFC 7505), DELIVERBY R and N (RFC 2852),
NOTIFY (RFC 3461), MT-PRIORITY ordering (RFC 6710) against a one-connection destination,
retry budgets, MX preference (RFC 5321 5.1), [[route]] and opportunistic STARTTLS.
"""

import pytest

from bounded_wait import seconds, wait_until
from dns_zone import Zone
from relay_support import (ALICE, RelayRefused, Submitter, read_dsn, recipient_block,
                           relay_options, submit, tokens_at)
from loopback_ports import free_port
from smtp_peer import make_self_signed_pair
from smtp_wire import SmtpWire

TERMINAL = ("delivered", "bounced", "expired", "discarded")


def mx_zone(domain, *hosts):
    """`domain` with one MX per (preference, ip): mx1.domain, mx2.domain, ..."""
    zone = Zone(domain)
    for number, (preference, ip) in enumerate(hosts, 1):
        zone.mx(preference, f"mx{number}.{domain}").a(f"mx{number}", ip)
    return zone


def fate(daemon, message_id, recipient, timeout=None):
    """Waits for the recipient's terminal ledger event; returns (type, fields)."""
    def terminal():
        for event_type, rcpt, fields in daemon.trace(message_id).events:
            if event_type in TERMINAL and rcpt.lower() == recipient.lower():
                return event_type, fields
        return None
    return wait_until(terminal, timeout or seconds(30),
                      f"a terminal ledger event for {recipient} in {message_id}")


def wait_for_ledger(daemon, message_id, event_type, timeout=None, **expected_fields):
    def found():
        for event in daemon.trace(message_id).events_of(event_type):
            if all(event[2].get(k) == v for k, v in expected_fields.items()):
                return event
        return None
    return wait_until(found, timeout or seconds(30),
                      f"'{event_type}' {expected_fields} in the ledger of {message_id}")


def settled(daemon):
    """Waits until nothing is pending, DSNs included (a DSN is a queued message too)."""
    daemon.wait_for_empty_queue(timeout=seconds(60))


def only_dsn(daemon, message_id):
    """The one DSN in alice's Maildir once the queue is empty, checked against the ledger."""
    [path] = daemon.wait_for_messages(ALICE, 1)
    settled(daemon)
    assert daemon.new_messages(ALICE) == [path], "more than one DSN"
    dsn = read_dsn(path)
    assert dsn.return_path == "<>", dsn.return_path  # RFC 3464 2 / RFC 5321 4.5.5
    [(_, _, sent)] = daemon.trace(message_id).events_of("dsn-sent")
    assert sent.get("dsn_id"), sent
    delivered = daemon.trace(sent["dsn_id"]).events_of("delivered")
    assert [rcpt for _, rcpt, _ in delivered] == [ALICE], delivered
    return dsn, sent


# --- relay permission ------------------------------------------------------------------------


def test_authenticated_user_relays_to_the_mx_and_the_ledger_keeps_the_remote_reply(
        start_herald, start_nsd, start_peer, alice_hash):
    peer = start_peer("127.0.0.11", name="mx1.relay.test")
    dns = start_nsd([mx_zone("relay.test", (10, "127.0.0.11"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port))

    sent = submit(herald, ["bob@relay.test"], subject="hello relay")

    event_type, fields = fate(herald, sent.message_id, "bob@relay.test")
    assert event_type == "delivered", fields
    [arrived] = peer.wait_for_messages(1)
    assert arrived.mail_from == ALICE and arrived.rcpt_tos == ["bob@relay.test"]
    assert tokens_at(peer) == [sent.token]
    assert b"Subject: hello relay" in arrived.data
    assert fields["reply"] == arrived.reply, (fields, arrived.reply)
    assert f"127.0.0.11]:{peer.port}" in fields["remote"], fields
    assert "accepted by mx1.relay.test" in herald.trace(sent.message_id).text
    settled(herald)
    assert herald.new_messages(ALICE) == []  # default NOTIFY: no DSN for a success


def test_recipients_in_one_domain_share_one_transaction(start_herald, start_nsd, start_peer,
                                                        alice_hash):
    peer = start_peer("127.0.0.12", name="mx1.many.test")
    dns = start_nsd([mx_zone("many.test", (10, "127.0.0.12"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port))

    recipients = ["ann@many.test", "ben@many.test", "cat@many.test"]
    sent = submit(herald, recipients)

    for recipient in recipients:
        assert fate(herald, sent.message_id, recipient)[0] == "delivered"
    settled(herald)
    # RFC 5321 3.3: one MAIL, a RCPT each, one copy of the content.
    [arrived] = peer.messages()
    assert sorted(arrived.rcpt_tos) == recipients


def test_trusted_network_client_relays_without_auth(start_herald, start_nsd, start_peer,
                                                    alice_hash):
    peer = start_peer("127.0.0.12", name="mx1.relay.test")
    dns = start_nsd([mx_zone("relay.test", (10, "127.0.0.12"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port,
                                          trusted_networks=["127.0.0.0/8"]))

    sent = submit(herald, ["carol@relay.test"], authenticated=False,
                  sender="app@monitoring.test")

    assert fate(herald, sent.message_id, "carol@relay.test")[0] == "delivered"
    [arrived] = peer.wait_for_messages(1)
    assert arrived.mail_from == "app@monitoring.test"


def test_client_outside_the_trusted_networks_is_denied_relay_with_554_5_7_1(start_herald,
                                                                            alice_hash):
    herald = start_herald(**relay_options(alice_hash))  # no trusted_networks
    with SmtpWire(herald.port) as wire:
        assert wire.greeting().code == 220
        wire.ehlo()
        assert wire.command("MAIL FROM:<sender@remote.test>").code == 250
        reply = wire.command("RCPT TO:<someone@elsewhere.test>")
        assert reply.code == 554 and reply.text.startswith("5.7.1"), reply
        assert "relaying denied" in reply.text.lower(), reply
        # Local recipients are still taken in the same transaction.
        assert wire.command(f"RCPT TO:<{ALICE}>").code == 250
        assert wire.command("QUIT").code == 221


# --- retries ---------------------------------------------------------------------------------


def test_451_is_retried_and_then_delivered(start_herald, start_nsd, start_peer, alice_hash):
    peer = start_peer("127.0.0.13", name="mx1.retry.test")
    peer.rule("dave@retry.test", tempfail_first=1)
    dns = start_nsd([mx_zone("retry.test", (10, "127.0.0.13"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port))

    sent = submit(herald, ["dave@retry.test"])

    assert fate(herald, sent.message_id, "dave@retry.test")[0] == "delivered"
    [(_, _, deferred)] = herald.trace(sent.message_id).events_of("deferred")
    assert deferred["reply"].startswith("451 4.3.0"), deferred
    assert deferred["attempt"] == "1" and deferred.get("next_attempt"), deferred
    assert peer.attempts("dave@retry.test") == 2
    assert tokens_at(peer) == [sent.token]


def test_connection_dropped_before_the_reply_to_the_data_is_retried(start_herald, start_nsd,
                                                                    start_peer, alice_hash):
    peer = start_peer("127.0.0.14", name="mx1.drop.test")
    peer.rule("erin@drop.test", drop_first=1)
    dns = start_nsd([mx_zone("drop.test", (10, "127.0.0.14"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port))

    sent = submit(herald, ["erin@drop.test"])

    assert fate(herald, sent.message_id, "erin@drop.test")[0] == "delivered"
    assert [t.outcome for t in peer.transactions] == ["dropped", "accepted"]
    assert len(herald.trace(sent.message_id).events_of("deferred")) == 1
    assert len(herald.trace(sent.message_id).events_of("delivered")) == 1


# --- failures and their DSNs -----------------------------------------------------------------


def test_550_sends_exactly_one_failure_dsn_to_the_authenticated_sender(
        start_herald, start_nsd, start_peer, alice_hash):
    peer = start_peer("127.0.0.15", name="mx1.reject.test")
    peer.rule("frank@reject.test", reject=True)
    dns = start_nsd([mx_zone("reject.test", (10, "127.0.0.15"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port))

    sent = submit(herald, ["frank@reject.test"])

    event_type, fields = fate(herald, sent.message_id, "frank@reject.test")
    assert event_type == "bounced", fields
    assert fields["reply"].startswith("550 5.1.1"), fields
    dsn, dsn_event = only_dsn(herald, sent.message_id)
    assert dsn_event["action"] == "failed", dsn_event
    block = recipient_block(dsn, "frank@reject.test")
    assert block["Action"].strip().lower() == "failed"
    assert block["Status"].strip().startswith("5."), block["Status"]
    assert "550" in block["Diagnostic-Code"] and "mailbox unavailable" in block[
        "Diagnostic-Code"], block["Diagnostic-Code"]
    assert block["Diagnostic-Code"].lower().startswith("smtp;"), block["Diagnostic-Code"]
    assert peer.messages() == []


def test_550_for_a_trusted_network_client_is_withheld_no_backscatter(
        start_herald, start_nsd, start_peer, alice_hash):
    peer = start_peer("127.0.0.16", name="mx1.reject.test")
    peer.rule("grace@reject.test", reject=True)
    dns = start_nsd([mx_zone("reject.test", (10, "127.0.0.16"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port,
                                          trusted_networks=["127.0.0.0/8"]))

    # The sender is a local mailbox, so a DSN, if one were sent, would land where we look.
    sent = submit(herald, ["grace@reject.test"], authenticated=False, sender=ALICE)

    assert fate(herald, sent.message_id, "grace@reject.test")[0] == "bounced"
    _, _, withheld = wait_for_ledger(herald, sent.message_id, "dsn-withheld")
    assert withheld.get("action") == "failed" and withheld.get("reason"), withheld
    settled(herald)
    assert herald.trace(sent.message_id).events_of("dsn-sent") == []
    assert herald.new_messages(ALICE) == []


def test_null_mx_bounces_with_5_1_10_and_a_dsn(start_herald, start_nsd, alice_hash):
    dns = start_nsd([Zone("nomail.test").null_mx()])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=free_port("127.0.0.1")))

    sent = submit(herald, ["heidi@nomail.test"])

    event_type, fields = fate(herald, sent.message_id, "heidi@nomail.test")
    assert event_type == "bounced", fields
    assert "5.1.10" in fields["reply"], fields  # RFC 7505 3: "5.1.10 Null MX"
    dsn, _ = only_dsn(herald, sent.message_id)
    block = recipient_block(dsn, "heidi@nomail.test")
    assert block["Action"].strip().lower() == "failed"
    assert block["Status"].strip() == "5.1.10", block["Status"]


def test_deliverby_return_mode_past_its_time_fails_with_a_5_4_7_dsn(
        start_herald, start_nsd, start_peer, alice_hash):
    peer = start_peer("127.0.0.17", name="mx1.late.test")
    peer.rule("ivan@late.test", tempfail_until_released=True)  # never released
    dns = start_nsd([mx_zone("late.test", (10, "127.0.0.17"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port,
                                          limits={"min_deliver_by": "2s"}))

    sent = submit(herald, ["ivan@late.test"], mail_options=["BY=2;R"])

    event_type, fields = fate(herald, sent.message_id, "ivan@late.test")
    assert event_type in ("expired", "bounced"), (event_type, fields)
    dsn, dsn_event = only_dsn(herald, sent.message_id)
    assert dsn_event["action"] == "failed", dsn_event
    block = recipient_block(dsn, "ivan@late.test")
    assert block["Action"].strip().lower() == "failed"
    assert block["Status"].strip() == "5.4.7", block["Status"]  # RFC 2852 4.1.4.1, RFC 3463
    assert peer.messages() == []


def test_deliverby_notify_mode_past_its_time_sends_a_delayed_dsn_and_delivers_later(
        start_herald, start_nsd, start_peer, alice_hash):
    peer = start_peer("127.0.0.18", name="mx1.late.test")
    peer.rule("judy@late.test", tempfail_until_released=True)
    dns = start_nsd([mx_zone("late.test", (10, "127.0.0.18"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port,
                                          limits={"min_deliver_by": "2s"}))

    sent = submit(herald, ["judy@late.test"], mail_options=["BY=2;N"],
                  rcpt_options=["NOTIFY=DELAY,FAILURE"])

    wait_for_ledger(herald, sent.message_id, "dsn-sent", action="delayed")
    [path] = herald.wait_for_messages(ALICE, 1)
    block = recipient_block(read_dsn(path), "judy@late.test")
    assert block["Action"].strip().lower() == "delayed"
    assert block["Status"].strip().startswith("4."), block["Status"]
    assert peer.messages() == []
    peer.release("judy@late.test")  # the deadline has passed; N mode keeps trying
    assert fate(herald, sent.message_id, "judy@late.test")[0] == "delivered"
    settled(herald)
    assert tokens_at(peer) == [sent.token]
    assert herald.new_messages(ALICE) == [path]  # no failure DSN after the delay one


def test_notify_success_sends_a_success_dsn(start_herald, start_nsd, start_peer, alice_hash):
    # A peer without DSN: the success notice is herald's to send (RFC 3461 5.2.2).
    peer = start_peer("127.0.0.19", name="mx1.relay.test", announce_dsn=False)
    dns = start_nsd([mx_zone("relay.test", (10, "127.0.0.19"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port))

    sent = submit(herald, ["kim@relay.test"], rcpt_options=["NOTIFY=SUCCESS"])

    assert fate(herald, sent.message_id, "kim@relay.test")[0] == "delivered"
    dsn, dsn_event = only_dsn(herald, sent.message_id)
    # The spec says "delivered"; RFC 3461 4.3 would call a hand-over to a non-DSN peer
    # "relayed". Either is a success notice.
    assert dsn_event["action"] in ("delivered", "relayed"), dsn_event
    block = recipient_block(dsn, "kim@relay.test")
    assert block["Action"].strip().lower() in ("delivered", "relayed")
    assert block["Status"].strip().startswith("2."), block["Status"]


def test_notify_never_sends_no_dsn_for_a_failure(start_herald, start_nsd, start_peer,
                                                 alice_hash):
    peer = start_peer("127.0.0.20", name="mx1.reject.test")
    peer.rule("leo@reject.test", reject=True)
    dns = start_nsd([mx_zone("reject.test", (10, "127.0.0.20"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port))

    sent = submit(herald, ["leo@reject.test"], rcpt_options=["NOTIFY=NEVER"])

    assert fate(herald, sent.message_id, "leo@reject.test")[0] == "bounced"
    settled(herald)
    assert herald.trace(sent.message_id).events_of("dsn-sent") == []
    assert herald.new_messages(ALICE) == []


def test_dsn_parameters_are_passed_on_to_a_peer_that_offers_dsn(start_herald, start_nsd,
                                                                start_peer, alice_hash):
    peer = start_peer("127.0.0.21", name="mx1.relay.test")  # announces DSN
    dns = start_nsd([mx_zone("relay.test", (10, "127.0.0.21"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port))

    sent = submit(herald, ["mia@relay.test"], mail_options=["RET=HDRS", "ENVID=track+2B42"],
                  rcpt_options=["NOTIFY=FAILURE,DELAY", "ORCPT=rfc822;Mia@relay.test"])

    assert fate(herald, sent.message_id, "mia@relay.test")[0] == "delivered"
    [arrived] = peer.wait_for_messages(1)
    # RFC 3461 5.2.1 and 5.2.2: relayed unchanged to a DSN-capable next hop.
    assert arrived.mail_parameters.get("RET", "").upper() == "HDRS", arrived.mail_parameters
    assert arrived.mail_parameters.get("ENVID") == "track+2B42", arrived.mail_parameters
    rcpt = arrived.rcpt_parameters["mia@relay.test"]
    assert rcpt.get("NOTIFY", "").upper() == "FAILURE,DELAY", rcpt
    assert rcpt.get("ORCPT", "").lower() == "rfc822;mia@relay.test", rcpt


# --- scheduling ------------------------------------------------------------------------------

BACKLOG = 30
PEER_DELAY = 0.5  # seconds per message at the one-connection destination: a real backlog


def test_priority_9_overtakes_a_backlog_of_priority_minus_9_on_a_one_connection_destination(
        start_herald, start_nsd, start_peer, alice_hash):
    peer = start_peer("127.0.0.22", name="mx1.slow.test")
    peer.default.data_delay = PEER_DELAY
    dns = start_nsd([mx_zone("slow.test", (10, "127.0.0.22"))])
    herald = start_herald(**relay_options(
        alice_hash, dns, mx_port=peer.port,
        queue={"fair_share_every": 8},
        destinations=[{"domain": "slow.test", "max_connections": 1,
                       "reserved_for_urgent": 0}]))

    with Submitter(herald) as submitter:
        backlog = [submitter.send(["bulk@slow.test"], mail_options=["MT-PRIORITY=-9"])
                   for _ in range(BACKLOG)]
        wait_until(lambda: peer.mail_commands >= 1, seconds(30), "the backlog to start moving")
        urgent = submitter.send(["urgent@slow.test"], mail_options=["MT-PRIORITY=9"])
        started_when_queued = peer.mail_commands  # MAIL commands seen once the 9 was queued
    assert BACKLOG - started_when_queued >= 10, (
        f"no real backlog: {started_when_queued} of {BACKLOG} had started when the 9 came")

    assert fate(herald, urgent.message_id, "urgent@slow.test", timeout=seconds(60))[0] == (
        "delivered")
    peer.wait_for_messages(BACKLOG + 1, timeout=seconds(BACKLOG * PEER_DELAY * 3 + 30))
    order = tokens_at(peer)
    assert sorted(order) == sorted([s.token for s in backlog] + [urgent.token])
    ahead = order.index(urgent.token)
    # One connection: the 9 takes the next free slot. Ahead of it may be what had started
    # when it was queued, one delivery already picked for the connection but not yet at
    # MAIL, and one fair-share pick of the oldest (fair_share_every = 8).
    assert ahead <= started_when_queued + 2, (
        f"the 9 arrived {ahead + 1}th; {started_when_queued} had started when it was queued")
    assert peer.connections <= BACKLOG + 1
    assert max(t.connection for t in peer.messages()) == peer.connections


@pytest.mark.parametrize("budget", [{"max_attempts": 2, "max_age": "1m"}, {"max_age": "3s"}],
                         ids=["max_attempts", "max_age"])
def test_spent_retry_budget_expires_with_a_failure_dsn(start_herald, start_nsd, start_peer,
                                                       alice_hash, budget):
    peer = start_peer("127.0.0.23", name="mx1.budget.test")
    peer.rule("nia@budget.test", tempfail_until_released=True)  # never released
    dns = start_nsd([mx_zone("budget.test", (10, "127.0.0.23"))])
    herald = start_herald(**relay_options(
        alice_hash, dns, mx_port=peer.port,
        destinations=[dict({"domain": "budget.test", "retry_backoff": ["1s"]}, **budget)]))

    sent = submit(herald, ["nia@budget.test"])

    event_type, fields = fate(herald, sent.message_id, "nia@budget.test")
    assert event_type == "expired", (event_type, fields)
    assert fields.get("reason"), fields
    dsn, dsn_event = only_dsn(herald, sent.message_id)
    assert dsn_event["action"] == "failed", dsn_event
    block = recipient_block(dsn, "nia@budget.test")
    assert block["Action"].strip().lower() == "failed"
    attempts = peer.attempts("nia@budget.test")
    if "max_attempts" in budget:
        assert attempts == budget["max_attempts"], attempts
    else:
        assert attempts >= 1


# --- where the mail goes ---------------------------------------------------------------------


def test_first_mx_refusing_connections_falls_back_to_the_second(start_herald, start_nsd,
                                                                start_peer, alice_hash):
    port = free_port("127.0.0.25")
    second = start_peer("127.0.0.25", port, name="mx2.pref.test")
    # mx1 (127.0.0.24, preference 10) has nothing listening: its connections are refused.
    dns = start_nsd([mx_zone("pref.test", (10, "127.0.0.24"), (20, "127.0.0.25"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=port))

    sent = submit(herald, ["olga@pref.test"])

    event_type, fields = fate(herald, sent.message_id, "olga@pref.test")
    assert event_type == "delivered", fields
    assert f"127.0.0.25]:{port}" in fields["remote"], fields
    assert tokens_at(second) == [sent.token]


def test_the_most_preferred_mx_gets_the_mail_when_it_answers(start_herald, start_nsd,
                                                             start_peer, alice_hash):
    port = free_port("127.0.0.26")
    first = start_peer("127.0.0.26", port, name="mx1.pref.test")
    second = start_peer("127.0.0.27", port, name="mx2.pref.test")
    # Listed in the zone with the less preferred host first: order must come from preference.
    dns = start_nsd([Zone("pref.test").mx(20, "mx2.pref.test").a("mx2", "127.0.0.27")
                     .mx(10, "mx1.pref.test").a("mx1", "127.0.0.26")])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=port))

    sent = submit(herald, ["pat@pref.test"])

    assert fate(herald, sent.message_id, "pat@pref.test")[0] == "delivered"
    assert tokens_at(first) == [sent.token]
    assert second.connections == 0


def test_route_overrides_the_mx(start_herald, start_nsd, start_peer, alice_hash):
    mx = start_peer("127.0.0.28", name="mx1.partner.test")
    routed = start_peer("127.0.0.29", name="gateway.partner.test")
    dns = start_nsd([mx_zone("partner.test", (10, "127.0.0.28"))])
    herald = start_herald(**relay_options(
        alice_hash, dns, mx_port=mx.port,
        routes=[{"domain": "partner.test", "to": routed.address}]))

    sent = submit(herald, ["quinn@partner.test"])

    event_type, fields = fate(herald, sent.message_id, "quinn@partner.test")
    assert event_type == "delivered", fields
    assert f"127.0.0.29]:{routed.port}" in fields["remote"], fields
    assert tokens_at(routed) == [sent.token]
    assert mx.connections == 0


def test_starttls_is_used_when_the_peer_offers_it(start_herald, start_nsd, start_peer,
                                                  alice_hash, tmp_path):
    pair = make_self_signed_pair(tmp_path, "mx1.tls.test")
    peer = start_peer("127.0.0.30", name="mx1.tls.test", tls_pair=pair)
    dns = start_nsd([mx_zone("tls.test", (10, "127.0.0.30"))])
    herald = start_herald(**relay_options(alice_hash, dns, mx_port=peer.port,
                                          outbound={"opportunistic_tls": True}))

    sent = submit(herald, ["rita@tls.test"])

    event_type, fields = fate(herald, sent.message_id, "rita@tls.test")
    assert event_type == "delivered", fields
    [arrived] = peer.wait_for_messages(1)
    assert arrived.tls, "the peer offered STARTTLS and the session stayed in clear text"
    assert fields.get("tls", "").lower() not in ("", "no", "none", "false"), fields


def test_relay_refusal_before_relay_exists_is_reported_clearly(start_herald, alice_hash):
    """Guards the helper the other tests rely on: a refused RCPT raises RelayRefused with
    herald's reply, not a hang or a confusing error."""
    herald = start_herald(**relay_options(alice_hash))
    with Submitter(herald, authenticated=False) as submitter:
        with pytest.raises(RelayRefused, match=r"RCPT TO:<x@elsewhere\.test>.* -> 554"):
            submitter.send(["x@elsewhere.test"], sender="s@remote.test")
        assert submitter.send([ALICE], sender="s@remote.test").message_id
