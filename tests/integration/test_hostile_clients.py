"""Hostile clients on a raw socket (issue 8): a flood of forged Authentication-Results, a
header section past max_header_size, many large transfers at once against the budget for
bytes in flight, and clients that stall or drip in DATA. Each asserts the reply and what was
stored, not a time."""

import socket

from bounded_wait import SCALE, seconds
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


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_many_large_transfers_at_once_are_held_to_the_bytes_in_flight_budget(start_herald):
    """Eight sessions each send 4 MiB and wait before the final dot, 32 MiB in flight against
    a 12 MiB budget: what the budget cannot hold is answered 452 4.3.1 and not stored, and
    heraldd's memory grows by about the budget, not by what was sent."""
    mib = 1024 * 1024
    herald = start_herald(limits={"max_bytes_in_flight": 12 * mib, "max_message_size": 8 * mib})
    before = vm_hwm_kib(herald.process.pid)
    line = b"x" * 998 + b"\r\n"
    sessions = []
    for number in range(8):
        smtp = SmtpWire(herald.port)
        sessions.append(smtp)
        assert smtp.greeting().code == 220
        assert smtp.ehlo().code == 250
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        assert smtp.command("RCPT TO:<alice@example.test>").code == 250
        reply = smtp.command("DATA")
        if reply.code != 354:  # the budget was full before this one began
            assert reply.code == 452 and reply.text.startswith("4.3.1"), reply
            sessions.pop().close()
            continue
        smtp.send(f"From: <sender@remote.test>\r\nSubject: big {number}\r\n\r\n".encode())
        smtp.send(line * (4 * mib // len(line)))
    replies = []
    for smtp in sessions:
        smtp.send(b".\r\n")
        replies.append(smtp.reply())
        smtp.close()
    accepted = [r for r in replies if r.code == 250]
    refused = [r for r in replies if r.code != 250]
    # Buffers are charged as they grow, by doubling: 12 MiB holds one or two of 4 MiB.
    assert 1 <= len(accepted) <= 2, replies
    assert len(accepted) + len(refused) + (8 - len(sessions)) == 8
    for reply in refused:
        assert reply.code == 452 and reply.text.startswith("4.3.1"), reply
    herald.wait_for_messages("alice@example.test", len(accepted))
    assert len(herald.queue_list("--all")) == len(accepted)
    if SCALE > 1:
        return  # under ASan, freed memory sits in its quarantine: RSS says nothing here
    grown_mib = (vm_hwm_kib(herald.process.pid) - before) / 1024
    # Holding all 32 MiB (in buffers that grow by doubling) would be over 32; the budget
    # plus the commit's copy of what it let in stays well under.
    assert grown_mib < 30, f"heraldd grew by {grown_mib:.0f} MiB for a 12 MiB budget"


def start_data(smtp):
    assert smtp.greeting().code == 220
    assert smtp.ehlo().code == 250
    assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
    assert smtp.command("RCPT TO:<alice@example.test>").code == 250
    assert smtp.command("DATA").code == 354
    smtp.send(b"From: <sender@remote.test>\r\nSubject: slow\r\n\r\n")


def test_a_client_that_stops_sending_in_data_gets_421_after_data_timeout(start_herald):
    herald = start_herald(limits={"data_timeout": "1s"})
    with SmtpWire(herald.port, timeout=seconds(20)) as smtp:
        start_data(smtp)
        reply = smtp.reply()  # nothing more is sent: the per-read deadline passes
        assert reply.code == 421 and reply.text.startswith("4.4.2"), reply
        assert "timeout" in reply.text, reply
        assert smtp.closed_by_server()
    assert herald.queue_list("--all") == []


def test_a_client_dripping_one_byte_at_a_time_is_cut_off_at_max_session_time(start_herald):
    """Each byte comes well within data_timeout, so only the whole session's limit stops it."""
    herald = start_herald(limits={"data_timeout": "5s", "max_session_time": "2s"})
    with SmtpWire(herald.port, timeout=seconds(20)) as smtp:
        start_data(smtp)
        reply = None
        for _ in range(100):  # at most 20 s of drip
            try:
                smtp.send(b"x")
            except OSError:
                break
            smtp.sock.settimeout(0.2)
            try:
                reply = smtp.reply()
                break
            except socket.timeout:
                continue
            finally:
                smtp.sock.settimeout(seconds(20))
        assert reply is not None, "the drip was never cut off"
        assert reply.code == 421 and "session time limit" in reply.text, reply
    assert herald.queue_list("--all") == []
