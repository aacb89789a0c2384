"""Hostile clients on a raw socket (issue 8): a flood of forged Authentication-Results, a
header section past max_header_size, many large transfers at once streaming through, the
budget for bytes in flight, and clients that stall or drip in DATA. Each asserts the reply and what was
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


def open_transfer(port, number, body_octets, line=b"x" * 998 + b"\r\n"):
    """A session that has sent `body_octets` of body (whole lines) and waits before the dot;
    None when DATA itself was refused 452 4.3.1 (the budget was full already)."""
    smtp = SmtpWire(port)
    assert smtp.greeting().code == 220
    assert smtp.ehlo().code == 250
    assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
    assert smtp.command("RCPT TO:<alice@example.test>").code == 250
    reply = smtp.command("DATA")
    if reply.code != 354:
        assert reply.code == 452 and reply.text.startswith("4.3.1"), reply
        smtp.close()
        return None
    smtp.send(f"From: <sender@remote.test>\r\nSubject: big {number}\r\n\r\n".encode())
    smtp.send(line * (body_octets // len(line)))
    return smtp


def finish_transfers(sessions):
    replies = []
    for smtp in sessions:
        smtp.send(b".\r\n")
        replies.append(smtp.reply())
        smtp.close()
    return replies


def test_many_large_transfers_stream_through_without_being_held(start_herald):
    """Sixteen sessions each send 8 MiB and wait before the final dot: 128 MiB in flight.
    DATA streams into the store a piece at a time, so every one is accepted and delivered
    whole, and heraldd's memory grows by far less than what was in flight."""
    mib = 1024 * 1024
    herald = start_herald(limits={"max_message_size": 16 * mib})
    before = vm_hwm_kib(herald.process.pid)
    line = b"y" * 998 + b"\r\n"
    sessions = [open_transfer(herald.port, n, 8 * mib, line) for n in range(16)]
    assert all(sessions), "the default budget holds sixteen sessions' buffers"
    replies = finish_transfers(sessions)
    assert all(r.code == 250 for r in replies), replies
    files = herald.wait_for_messages("alice@example.test", 16, timeout=seconds(120))
    # Maildir keeps LF line ends: each body is 8,404 lines of 998 octets and LF.
    expected_body = (b"y" * 998 + b"\n") * (8 * mib // len(line))
    for path in files:
        content = path.read_bytes()
        assert content.endswith(b"\n\n" + expected_body), path
    if SCALE > 1:
        return  # under ASan, freed memory sits in its quarantine: RSS says nothing here
    grown_mib = (vm_hwm_kib(herald.process.pid) - before) / 1024
    # Held whole, 128 MiB would be in memory at the end of data, and again in each delivery.
    # Streamed: a piece per session, the store's memtables, and a piece per delivery.
    assert grown_mib < 96, f"heraldd grew by {grown_mib:.0f} MiB with 128 MiB in flight"


def test_transfers_past_the_bytes_in_flight_budget_get_452_4_3_1(start_herald):
    """Each transfer holds the header and one 256 KiB piece of its body in memory, charged to
    the budget: with 1 MiB, eight sessions sending 1 MiB each cannot all hold theirs. What
    the budget cannot hold is answered 452 4.3.1 and not stored."""
    mib = 1024 * 1024
    herald = start_herald(limits={"max_bytes_in_flight": mib, "max_message_size": 8 * mib})
    opened = [open_transfer(herald.port, n, mib) for n in range(8)]
    sessions = [s for s in opened if s is not None]
    replies = finish_transfers(sessions)
    accepted = [r for r in replies if r.code == 250]
    refused = [r for r in replies if r.code != 250]
    # A quarter of a MiB and a little each: 1 MiB holds three of them.
    assert 1 <= len(accepted) <= 4, replies
    assert refused, "the budget held every transfer"
    for reply in refused:
        assert reply.code == 452 and reply.text.startswith("4.3.1"), reply
    herald.wait_for_messages("alice@example.test", len(accepted))
    assert len(herald.queue_list("--all")) == len(accepted)


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
