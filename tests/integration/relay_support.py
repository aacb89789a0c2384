"""What the relay tests share: the settings of a relaying heraldd, submitting a message
(authenticated on the submission listener, or as a trusted-network client on port 25) with
ESMTP parameters, and reading a DSN (RFC 3464) out of a Maildir file."""

import dataclasses
import email
import email.policy
import smtplib
import ssl
import uuid

from bounded_wait import seconds
from herald_daemon import QUEUED_AS

ALICE = "alice@example.test"
PASSWORD = "correct horse battery"

# Short enough for tests, long enough for a loaded 2-core machine.
OUTBOUND = {"connect_timeout": "5s", "command_timeout": "30s", "data_timeout": "30s",
            "idle_timeout": "5s", "helo_name": "mx.example.test"}
QUEUE = {"retry_backoff": ["1s"], "delay_warning": "0"}


def relay_options(alice_hash, dns=None, mx_port=None, outbound=None, queue=None, **options):
    """start_herald keyword arguments for a relaying daemon: submission listeners with alice's
    password, [dns] servers = the test nsd, [outbound] with mx_port, short retries."""
    merged_outbound = dict(OUTBOUND, **(outbound or {}))
    if mx_port is not None:
        merged_outbound["mx_port"] = mx_port
    result = dict(submission=True, password_hashes={ALICE: alice_hash},
                  outbound=merged_outbound, queue=dict(QUEUE, **(queue or {})), **options)
    if dns is not None:
        result["dns_servers"] = [dns.address]
    return result


def message_bytes(sender, recipients, token, subject=None):
    head = (f"From: <{sender}>\r\nTo: {', '.join(f'<{r}>' for r in recipients)}\r\n"
            f"Subject: {subject or 'relay test ' + token}\r\n"
            f"Message-ID: <{token}@example.test>\r\nX-Test-Token: {token}\r\n\r\n")
    return (head + f"token {token}\r\n").encode()


@dataclasses.dataclass
class Submitted:
    message_id: str   # herald's queue id from "250 2.0.0 queued as ID"
    token: str        # in X-Test-Token and the body: how the peer's copy is recognised


class RelayRefused(AssertionError):
    """herald would not take the message for relay (what it says before relay exists)."""


class Submitter:
    """One SMTP session to the daemon: authenticated as alice on the submission listener
    (STARTTLS, AUTH), or unauthenticated on the port-25 listener. Reusable for many
    transactions; close() ends it."""

    def __init__(self, daemon, authenticated=True):
        port = daemon.submission_port if authenticated else daemon.port
        self.client = smtplib.SMTP("127.0.0.1", port, timeout=seconds(30))
        self.client.ehlo("laptop.example.test")
        if authenticated:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # herald's self-signed development pair
            self.client.starttls(context=context)
            self.client.ehlo("laptop.example.test")
            self.client.login(ALICE, PASSWORD)

    def send(self, recipients, sender=ALICE, mail_options=(), rcpt_options=(), token=None,
             subject=None):
        """One transaction; returns Submitted, or raises RelayRefused with herald's reply."""
        token = token or uuid.uuid4().hex[:16]
        code, reply = self.client.mail(sender, list(mail_options))
        if code != 250:
            self.client.rset()
            raise RelayRefused(f"MAIL FROM:<{sender}> {' '.join(mail_options)} -> {code} "
                               f"{reply.decode(errors='replace')}")
        for recipient in recipients:
            code, reply = self.client.rcpt(recipient, list(rcpt_options))
            if code != 250:
                self.client.rset()
                raise RelayRefused(f"RCPT TO:<{recipient}> {' '.join(rcpt_options)} -> {code} "
                                   f"{reply.decode(errors='replace')}")
        code, reply = self.client.data(message_bytes(sender, recipients, token, subject))
        match = QUEUED_AS.match(f"{code} {reply.decode(errors='replace')}")
        assert match, f"end of data -> {code} {reply!r}"
        return Submitted(match.group(1), token)

    def close(self):
        try:
            self.client.quit()
        except (OSError, smtplib.SMTPException):
            self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def submit(daemon, recipients, authenticated=True, **send_options):
    with Submitter(daemon, authenticated) as submitter:
        return submitter.send(recipients, **send_options)


def tokens_at(peer):
    """X-Test-Token of every message the peer accepted, in order of arrival."""
    found = []
    for transaction in peer.messages():
        parsed = email.message_from_bytes(transaction.data, policy=email.policy.default)
        found.append(parsed.get("X-Test-Token", "").strip())
    return found


@dataclasses.dataclass
class Dsn:
    """A delivery status notification as the sender's mailbox holds it."""
    message: email.message.EmailMessage
    per_message: email.message.Message
    per_recipient: list  # one Message (field block) per recipient
    human_readable: str

    @property
    def return_path(self):
        return self.message.get("Return-Path", "").strip()


def read_dsn(path):
    """Parses a Maildir file as an RFC 3464 report and checks its structure: multipart/report
    with report-type=delivery-status, a human-readable first part, a message/delivery-status
    part with one per-message block and at least one per-recipient block."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert message.get_content_type() == "multipart/report", (path, message.get_content_type())
    assert message.get_param("report-type") == "delivery-status", message["Content-Type"]
    parts = list(message.iter_parts())
    assert len(parts) >= 2, f"{path}: a report has at least two parts, found {len(parts)}"
    status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1, f"{path}: {len(status)} message/delivery-status parts"
    blocks = status[0].get_payload()
    assert isinstance(blocks, list) and len(blocks) >= 2, f"{path}: delivery-status {blocks!r}"
    human = parts[0].get_content() if parts[0].get_content_maintype() == "text" else ""
    return Dsn(message, blocks[0], blocks[1:], human)


def recipient_block(dsn, address):
    """The per-recipient block whose Final-Recipient is `address` (rfc822;ADDRESS)."""
    for block in dsn.per_recipient:
        final = block.get("Final-Recipient", "")
        kind, _, value = final.partition(";")
        if kind.strip().lower() == "rfc822" and value.strip().lower() == address.lower():
            return block
    raise AssertionError(f"no per-recipient block for {address}: "
                         f"{[b.get('Final-Recipient') for b in dsn.per_recipient]}")
