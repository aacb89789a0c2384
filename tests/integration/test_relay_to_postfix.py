"""herald's outbound SMTP against the receiving MTA much of the world runs: a private Postfix
3.7 on loopback (bench/lib/postfix_instance.py, shared with the benchmarks) takes the mail
herald relays to it through a [[route]]. Postfix announces PIPELINING, CHUNKING, DSN,
8BITMIME and SMTPUTF8, so this is the path that uses BDAT and passes DSN parameters on.

A private Postfix instance needs root (it switches to its own users); elsewhere these tests
are skipped, saying so.
"""

import os
import pathlib
import re
import shutil
import tempfile

import pytest

from bounded_wait import seconds, wait_until
from loopback_ports import free_port
from relay_support import relay_options, submit

from postfix_instance import PostfixInstance

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="a private Postfix instance needs root")

DOMAIN = "postfix.test"
RECIPIENT = f"alice@{DOMAIN}"


@pytest.fixture
def postfix():
    # Postfix's daemons run as its own users and must reach their directories, which
    # pytest's private (0700) temporary directories do not allow.
    work = pathlib.Path(tempfile.mkdtemp(prefix="herald-test-postfix-"))
    os.chmod(work, 0o755)
    instance = PostfixInstance(work, free_port(), domain=DOMAIN)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(work, ignore_errors=True)


def delivered_event(daemon, message_id):
    def found():
        events = daemon.trace(message_id).events_of("delivered")
        return events[0] if events else None
    return wait_until(found, seconds(30), f"'delivered' in the ledger of {message_id}")


def test_postfix_takes_relayed_mail_in_bdat_chunks_and_herald_records_its_reply(
        start_herald, alice_hash, postfix):
    # A short idle_timeout ends herald's session soon, and with it Postfix's account of it.
    herald = start_herald(**relay_options(
        alice_hash, outbound={"idle_timeout": "1s"},
        routes=[{"domain": DOMAIN, "to": f"127.0.0.1:{postfix.port}"}]))

    sent = submit(herald, [RECIPIENT], rcpt_options=("NOTIFY=SUCCESS,FAILURE",))

    _, recipient, fields = delivered_event(herald, sent.message_id)
    assert recipient == RECIPIENT
    # Postfix's "250 2.0.0 Ok: N bytes queued as <its queue id>" (its answer to BDAT LAST)
    # is what the ledger keeps.
    assert re.match(r"250 2\.0\.0 Ok: \d+ bytes queued as \w+", fields["reply"]), fields
    assert fields["peer_dsn"] == "yes", fields
    [path] = wait_until(lambda: list(postfix.maildir_new.iterdir()), seconds(30),
                        "the message in Postfix's Maildir")
    assert sent.token in path.read_text(errors="replace")
    # Postfix counts each command of a session when it ends: BDAT was used, DATA was not.
    def herald_session():
        maillog = (postfix.work / "maillog").read_text(errors="replace")
        sessions = re.findall(r"disconnect from \S+ (.*)", maillog)
        return next((s for s in sessions if "mail=" in s), None)
    counts = wait_until(herald_session, seconds(30), "Postfix's account of herald's session")
    assert "bdat=" in counts and "data=" not in counts, counts
    # Postfix took the NOTIFY=SUCCESS with the message (RFC 3461 5.2.1): no DSN from herald.
    assert not herald.trace(sent.message_id).events_of("dsn-sent")
