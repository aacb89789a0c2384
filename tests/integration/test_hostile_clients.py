"""Hostile clients on a raw socket (issue 8): a flood of forged Authentication-Results and a
header section past max_header_size. Each asserts the reply and what was stored, not a time."""

from herald_daemon import HOSTNAME, QUEUED_AS
from smtp_wire import SmtpWire

FORGED = f"Authentication-Results: {HOSTNAME}; dkim=pass header.d=bank.test\r\n".encode()


def flood_header(octets):
    fields = FORGED * (octets // len(FORGED))
    return (b"From: <sender@remote.test>\r\nTo: <alice@example.test>\r\nSubject: flood\r\n"
            + fields + b"\r\nbody\r\n")


def send(port, content):
    with SmtpWire(port) as smtp:
        assert smtp.greeting().code == 220
        assert smtp.ehlo().code == 250
        return smtp.transaction("sender@remote.test", ["alice@example.test"], content)


def test_eight_mebibytes_of_forged_authentication_results_are_removed(start_herald):
    herald = start_herald(limits={"max_header_size": 16 * 1024 * 1024})
    reply = send(herald.port, flood_header(8 * 1024 * 1024))
    assert QUEUED_AS.match(reply.raw), reply
    [path] = herald.wait_for_messages("alice@example.test", 1)
    stored = path.read_bytes()
    assert b"Subject: flood" in stored
    # Sender verification is off here, so herald wrote no result of its own: none is left
    # that names this server.
    assert stored.count(f"Authentication-Results: {HOSTNAME}".encode()) == 0
    assert len(stored) < 4096


def test_a_header_section_past_max_header_size_is_refused_with_552_5_3_4(start_herald):
    herald = start_herald()
    reply = send(herald.port, flood_header(2 * 1024 * 1024))
    assert reply.raw == ("552 5.3.4 Message header section exceeds fixed maximum of 1048576 "
                         "octets; not accepted"), reply
    assert herald.queue_list("--all") == []
    assert "content refused" in herald.log_text()
