"""Nothing acknowledged is lost on the way out either (DESIGN.md promises 1 and 2), when
heraldd is killed with SIGKILL in the middle of outbound delivery.

An authenticated client submits MESSAGES messages, each to two recipients at crash.test,
whose [[route]] leads to a slow scripted peer (smtp_peer.py) that takes at most
MAX_CONNECTIONS connections' worth of mail at PEER_DELAY seconds per message. While the
queue drains, the daemon is killed and restarted KILLS times, each time after the peer has
accepted another batch, so that transactions are in flight at every kill. Then:

- every (message, recipient) acknowledged with 250 reached the peer at least once. A kill
  between the peer's 250 and herald's commit of `delivered` makes herald send it again:
  RFC 5321 6.1 prefers a duplicate to a loss, so duplicates are allowed, and counted;
- every message's ledger ends with exactly one `delivered` per recipient and nothing else
  terminal.
"""

import random
import time

import pytest

from bounded_wait import SCALE, seconds, wait_until
from relay_support import Submitter, relay_options, tokens_at

MESSAGES = 400
RECIPIENTS = ("r1@crash.test", "r2@crash.test")
MAX_CONNECTIONS = 4
PEER_DELAY = 0.15
KILLS = 3
DELIVERED_BETWEEN_KILLS = 30  # messages the peer accepts after each restart before the kill

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(SCALE > 1, reason="the crash test runs on the release build only"),
]


def accepted_pairs(peer):
    """(token, recipient) -> how many times the peer accepted it."""
    counts = {}
    for transaction, token in zip(peer.messages(), tokens_at(peer)):
        for recipient in transaction.rcpt_tos:
            key = (token, recipient.lower())
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_sigkill_during_outbound_delivery_loses_no_acknowledged_message(start_herald,
                                                                        start_peer, alice_hash):
    peer = start_peer("127.0.0.40", name="gateway.crash.test")
    peer.default.data_delay = PEER_DELAY
    herald = start_herald(**relay_options(
        alice_hash, routes=[{"domain": "crash.test", "to": peer.address}],
        destinations=[{"domain": "crash.test", "max_connections": MAX_CONNECTIONS}]))

    acknowledged = {}  # token -> queue id
    with Submitter(herald) as submitter:
        for _ in range(MESSAGES):
            sent = submitter.send(list(RECIPIENTS))
            acknowledged[sent.token] = sent.message_id

    rng = random.Random()
    accepted_at_kill = []
    for _ in range(KILLS):
        target = len(peer.messages()) + DELIVERED_BETWEEN_KILLS
        wait_until(lambda: len(peer.messages()) >= target, seconds(60),
                   f"the peer to accept {target} messages before the next kill")
        time.sleep(rng.uniform(0, PEER_DELAY))  # somewhere inside a transaction
        accepted_at_kill.append(len(peer.messages()))
        herald.kill()
        herald.start()
    assert accepted_at_kill[-1] < MESSAGES, (
        f"delivery was over before the last kill ({accepted_at_kill}): no crash mid-delivery")

    expected = {(token, r) for token in acknowledged for r in RECIPIENTS}
    wait_until(lambda: expected <= set(accepted_pairs(peer)), seconds(180),
               "every acknowledged (message, recipient) at the peer")
    herald.wait_for_empty_queue(timeout=seconds(60))

    counts = accepted_pairs(peer)
    lost = sorted(expected - set(counts))
    duplicates = {k: n for k, n in counts.items() if n > 1}
    strangers = sorted(set(counts) - expected)
    ledger_problems = {}
    for token, message_id in acknowledged.items():
        events = herald.trace(message_id).events
        for recipient in RECIPIENTS:
            fates = [t for t, rcpt, _ in events
                     if rcpt.lower() == recipient and t in ("delivered", "bounced", "expired",
                                                            "discarded")]
            if fates != ["delivered"]:
                ledger_problems[(message_id, recipient)] = fates
    print(f"\nrelay crash test: {MESSAGES} messages x {len(RECIPIENTS)} recipients, kills after "
          f"{accepted_at_kill} accepted, peer transactions {len(peer.messages())}, "
          f"duplicated (message, recipient) {len(duplicates)}, lost {len(lost)}")

    assert not lost, f"acknowledged but never at the peer: {lost[:20]}"
    assert not strangers, f"at the peer but never sent: {strangers[:20]}"
    assert not ledger_problems, (
        f"ledgers not ending in exactly one delivered: {dict(list(ledger_problems.items())[:20])}")
