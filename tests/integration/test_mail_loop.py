"""A mail loop between two heraldd instances (RFC 5321 6.3), which the loop check on each
one's own listeners cannot see: each routes loop.test to the other, so a message goes round
and round, one Received field more each hop, until one of them counts more than
[limits] max_hops and refuses it with 554 5.4.6; the other records the bounce and the loop
ends. (Issue 8: an alias forwarding to a domain routed back made 2,757 hops in 60 s.)"""

import re
import smtplib
import time

from bounded_wait import seconds, wait_until
from herald_daemon import HeraldDaemon, config_text
from relay_support import OUTBOUND, QUEUE

MAX_HOPS = 12
LOOP = {"limits": {"max_hops": MAX_HOPS}, "queue": QUEUE, "outbound": OUTBOUND,
        "trusted_networks": ["127.0.0.0/8"]}
DELIVERED = re.compile(r"queue: delivered msg=(\S+) rcpt=\S+ transport=smtp")
BOUNCED = re.compile(r'queue: bounced msg=(\S+) rcpt=(\S+) transport=smtp attempt=\d+ reply="([^"]*)"')


def routed_to(daemon):
    return [{"domain": "loop.test", "to": f"127.0.0.1:{daemon.port}"}]


def test_a_loop_between_two_servers_ends_at_the_hop_limit(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    a = HeraldDaemon(tmp_path / "a", **LOOP)
    b = HeraldDaemon(tmp_path / "b", **LOOP, routes=routed_to(a))
    # a's configuration needs b's port, which b picked when it was made.
    a.config.write_text(config_text(a.data_dir, a.port, LOOP["limits"], QUEUE, outbound=OUTBOUND,
                                    trusted_networks=LOOP["trusted_networks"],
                                    routes=routed_to(b)))
    try:
        a.start()
        b.start()
        with smtplib.SMTP("127.0.0.1", a.port, timeout=seconds(30)) as client:
            client.sendmail("sender@example.org", ["someone@loop.test"],
                            b"From: <sender@example.org>\r\nSubject: round and round\r\n\r\n"
                            b"hello\r\n")

        def bounce():
            for daemon in (a, b):
                found = BOUNCED.findall(daemon.log_text())
                if found:
                    return daemon, found
            return None
        daemon, found = wait_until(bounce, seconds(60), "one of the two to bounce the loop")
        [(message_id, recipient, reply)] = found
        assert recipient == "someone@loop.test"
        assert reply.startswith("554 5.4.6"), reply
        assert f"more than {MAX_HOPS}" in reply, reply
        bounced = daemon.trace(message_id).events_of("bounced")
        assert len(bounced) == 1, bounced

        time.sleep(seconds(2))  # nothing goes round any more
        relays = [DELIVERED.findall(d.log_text()) for d in (a, b)]
        hops = sum(len(r) for r in relays)
        # Each relay adds one Received field: the hop that would pass MAX_HOPS is refused.
        assert MAX_HOPS - 2 <= hops <= MAX_HOPS, (hops, relays)
    finally:
        for daemon in (a, b):
            daemon.stop()
