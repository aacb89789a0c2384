"""Forwarding end to end: an [[alias]] on herald points to a remote address, the forwarded copy
leaves with an SRS return path in herald's SRS domain (so the next hop's SPF check is about
herald, not the original sender), and a bounce to that address comes home to the original
sender. Real peers on loopback: nsd answers the MX queries (dns_zone.py), aiosmtpd MTAs stand
for elsewhere.test and sender.test (smtp_peer.py), smtplib is the internet client on port 25.

The SRS hashes are checked here with Python's hmac, independently of herald's code: HMAC-SHA1
over the lower-cased fields with the secret, base64, first 4 characters; the timestamp is the
day since the epoch modulo 1024 in 2 base32 characters.
"""

import base64
import hashlib
import hmac
import re
import stat
import time

from bounded_wait import seconds
from dns_zone import Zone
from relay_support import OUTBOUND, QUEUE, Submitter
from smtp_wire import SmtpWire

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
SRS0 = re.compile(r"^SRS0=([A-Z2-7]{8})=([A-Z2-7]{2})=([^=]+)=(.+)@(.+)$")


def mx_zone(domain, ip):
    return Zone(domain).mx(10, f"mx1.{domain}").a("mx1", ip)


def srs_hash(secret, *fields):
    """herald's SRS hash: 8 base32 characters of HMAC-SHA256 (auth/srs.h)."""
    digest = hmac.new(secret.encode(), "".join(fields).lower().encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:8]


def srs_timestamp(days_ago=0):
    slot = (int(time.time()) // 86400 - days_ago) % 1024
    return BASE32[slot >> 5] + BASE32[slot & 31]


def srs0(secret, local, domain, srs_domain, days_ago=0):
    stamp = srs_timestamp(days_ago)
    return f"SRS0={srs_hash(secret, stamp, domain, local)}={stamp}={domain}={local}@{srs_domain}"


def forwarding_herald(start_herald, start_nsd, start_peer, srs=None):
    """herald with away@example.test -> bob@elsewhere.test, and two MX peers on one port:
    elsewhere.test's (127.0.0.31) and sender.test's (127.0.0.32)."""
    elsewhere = start_peer("127.0.0.31", name="mx1.elsewhere.test")
    sender_mx = start_peer("127.0.0.32", port=elsewhere.port, name="mx1.sender.test")
    dns = start_nsd([mx_zone("elsewhere.test", "127.0.0.31"), mx_zone("sender.test", "127.0.0.32")])
    herald = start_herald(dns_servers=[dns.address], outbound=dict(OUTBOUND, mx_port=elsewhere.port),
                          queue=QUEUE, srs=srs,
                          aliases=[{"address": "away@example.test", "to": ["bob@elsewhere.test"]}])
    return herald, elsewhere, sender_mx


def send_bounce(herald, srs_address):
    """A bounce (null reverse-path) to `srs_address` from the internet; herald's message id."""
    with Submitter(herald, authenticated=False) as client:
        return client.send([srs_address], sender="", subject="Undelivered Mail").message_id


def rcpt_reply(herald, address):
    with SmtpWire(herald.port) as wire:
        assert wire.greeting().code == 220
        wire.ehlo()
        assert wire.command("MAIL FROM:<>").code == 250
        return wire.command(f"RCPT TO:<{address}>")


def test_alias_forwards_with_an_srs_sender_and_the_bounce_reaches_the_original_sender(
        start_herald, start_nsd, start_peer):
    herald, elsewhere, sender_mx = forwarding_herald(start_herald, start_nsd, start_peer)

    # From the internet, to the alias: the postmaster set the forward up, so no relay rights
    # are needed.
    with Submitter(herald, authenticated=False) as client:
        sent = client.send(["away@example.test"], sender="someone@sender.test")

    [arrived] = elsewhere.wait_for_messages(1, timeout=seconds(30))
    assert arrived.rcpt_tos == ["bob@elsewhere.test"]
    match = SRS0.match(arrived.mail_from)
    assert match, arrived.mail_from
    hash_, stamp, domain, local, srs_domain = match.groups()
    assert (domain, local, srs_domain) == ("sender.test", "someone", "mx.example.test")
    assert stamp in (srs_timestamp(0), srs_timestamp(1)), stamp  # the day may have turned
    # No [srs] secret configured: heraldd generated one in data_dir, readable by it alone.
    secret_file = herald.data_dir / "srs.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert hash_ == srs_hash(secret, stamp, domain, local)
    [(_, rcpt, queued)] = herald.trace(sent.message_id).events_of("queued")
    assert rcpt == "away@example.test"
    assert queued["forwarded_by"] == "away@example.test", queued
    assert queued["return_path"] == arrived.mail_from, queued
    assert queued["relay_to"] == "bob@elsewhere.test", queued
    assert f"mail_from={arrived.mail_from}" in herald.trace(sent.message_id).text

    # The next hop bounces: the bounce comes to the SRS address and goes on to the sender.
    bounce_id = send_bounce(herald, arrived.mail_from)
    [returned] = sender_mx.wait_for_messages(1, timeout=seconds(30))
    assert returned.rcpt_tos == ["someone@sender.test"]
    assert returned.mail_from == "<>", "a bounce keeps its null sender; no second SRS rewrite"
    assert b"Subject: Undelivered Mail" in returned.data
    [(_, _, back)] = herald.trace(bounce_id).events_of("queued")
    assert back["relay_to"] == "someone@sender.test" and "forwarded_by" not in back, back

    # Anyone can write the format; only herald's own signed addresses are taken.
    tampered = arrived.mail_from.replace("=someone@", "=victim@")
    reply = rcpt_reply(herald, tampered)
    assert reply.code == 550 and reply.text.startswith("5.1.1"), reply
    assert "not an SRS address this server signed" in reply.text, reply


def test_srs_domain_and_rotated_secrets_come_from_the_srs_table(start_herald, start_nsd,
                                                                start_peer):
    herald, elsewhere, sender_mx = forwarding_herald(
        start_herald, start_nsd, start_peer,
        srs={"domain": "srs.example.test", "secret": "current", "previous_secrets": ["retired"],
             "max_age": "10d"})

    with Submitter(herald, authenticated=False) as client:
        client.send(["away@example.test"], sender="someone@sender.test")
    [arrived] = elsewhere.wait_for_messages(1, timeout=seconds(30))
    hash_, stamp, domain, local, srs_domain = SRS0.match(arrived.mail_from).groups()
    assert srs_domain == "srs.example.test", "the SRS domain needs no [[domain]] entry"
    assert hash_ == srs_hash("current", stamp, domain, local)

    # Signed before the rotation: still taken back.
    send_bounce(herald, srs0("retired", "someone", "sender.test", "srs.example.test", 2))
    [returned] = sender_mx.wait_for_messages(1, timeout=seconds(30))
    assert returned.rcpt_tos == ["someone@sender.test"]

    for refused, text in [
            (srs0("unknown", "someone", "sender.test", "srs.example.test"),
             "not an SRS address this server signed"),
            (srs0("current", "someone", "sender.test", "srs.example.test", days_ago=11),
             "expired")]:
        reply = rcpt_reply(herald, refused)
        assert reply.code == 550 and reply.text.startswith("5.1.1"), (refused, reply)
        assert text in reply.text, reply
