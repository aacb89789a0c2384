"""Mail that herald accepts lands in the right Maildirs, with the trace headers a mailbox
owner expects, and its whole history is visible through `herald trace` and `queue list`."""

import os
import re

from herald_daemon import HOSTNAME, QUEUED_AS
from maildir_reader import StoredMessage
from smtp_wire import SmtpWire, message


def queued_id(transcript):
    match = QUEUED_AS.search(transcript)
    assert match, f"no '250 2.0.0 queued as ID' in:\n{transcript}"
    return match.group(1)


def same_file(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


def test_swaks_message_is_delivered_to_maildir_with_trace_headers_and_ledger(herald, swaks):
    transcript = swaks(herald, "--from", "sender@remote.test", "--to", "alice@example.test",
                       "--helo", "client.remote.test", "--header", "Subject: plain delivery",
                       "--body", "hello alice")
    message_id = queued_id(transcript)

    [path] = herald.wait_for_messages("alice@example.test", 1)
    stored = StoredMessage(path)
    assert stored.names()[:2] == ["Return-Path", "Delivered-To"]
    assert stored.first("Return-Path") == "<sender@remote.test>"
    assert stored.first("Delivered-To") == "alice@example.test"
    received = stored.first("Received")
    assert received.startswith("from client.remote.test ([127.0.0.1])"), received
    assert f"by {HOSTNAME}" in received and message_id in received, received
    assert stored.first("Subject") == "plain delivery"
    assert b"hello alice" in stored.body

    [delivered] = herald.wait_for_event(message_id, "delivered")
    trace = herald.trace(message_id)
    assert trace.header_line("message") == message_id
    assert trace.header_line("peer").startswith("127.0.0.1:"), trace.text
    assert "helo=client.remote.test" in trace.header_line("peer"), trace.text
    assert trace.header_line("tls") == "none"
    size = int(re.fullmatch(r"(\d+) octets", trace.header_line("size")).group(1))
    [(_, _, received_fields)] = trace.events_of("received")
    assert received_fields["peer"] == "127.0.0.1", trace.text
    assert received_fields["helo"] == "client.remote.test", trace.text
    assert int(received_fields["size"]) == size > len(stored.body), trace.text
    assert [e[1] for e in trace.events_of("queued")] == ["alice@example.test"], trace.text
    assert delivered[1] == "alice@example.test"
    assert same_file(delivered[2]["mailbox"], path), trace.text

    assert message_id in herald.queue_list("--all")
    assert message_id in herald.queue_list("--state", "delivered")
    herald.wait_for_empty_queue()


def test_starttls_message_records_tls_version_and_cipher(herald, swaks):
    transcript = swaks(herald, "-tls", "--from", "sender@remote.test", "--to",
                       "alice@example.test", "--helo", "tls.remote.test")
    assert "TLS started" in transcript, transcript
    message_id = queued_id(transcript)

    [path] = herald.wait_for_messages("alice@example.test", 1)
    received = StoredMessage(path).first("Received")
    assert re.search(r"with ESMTPS\b", received), received
    assert re.search(r"\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)", received), received

    herald.wait_for_event(message_id, "delivered")
    trace = herald.trace(message_id)
    tls = trace.header_line("tls")
    assert re.fullmatch(r"TLSv1\.[23] [A-Z0-9_-]+", tls), trace.text
    [(_, _, received_fields)] = trace.events_of("received")
    assert received_fields["tls"] == tls, trace.text


def test_swaks_pipelining_delivers(herald, swaks):
    transcript = swaks(herald, "--pipeline", "--from", "sender@remote.test", "--to",
                       "alice@example.test,bob@example.test")
    assert "PIPELINING" in transcript
    message_id = queued_id(transcript)
    herald.wait_for_messages("alice@example.test", 1)
    herald.wait_for_messages("bob@example.test", 1)
    herald.wait_for_event(message_id, "delivered", count=2)


def test_whole_pipelined_transaction_in_one_write_gets_replies_in_order(herald):
    # RFC 2920 3.1: the client may send MAIL, RCPT... and DATA in one go; the server answers
    # each in order.
    with SmtpWire(herald.port) as smtp:
        assert smtp.greeting().code == 220
        assert "PIPELINING" in smtp.ehlo().extensions
        smtp.send("MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
                  "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        assert smtp.reply().raw == "250 2.1.0 Sender OK"
        assert smtp.reply().raw == "250 2.1.5 Recipient OK"
        assert smtp.reply().raw == "550 5.1.1 <nobody@example.test>: no such user here"
        assert smtp.reply().raw == "250 2.1.5 Recipient OK"
        assert smtp.reply().code == 354
        smtp.send(message("pipelined", ["one write"]) + ".\r\nQUIT\r\n")
        assert QUEUED_AS.match(smtp.reply().raw)
        assert smtp.reply().code == 221
    herald.wait_for_messages("alice@example.test", 1)
    herald.wait_for_messages("bob@example.test", 1)


def test_alias_expands_to_one_copy_per_final_mailbox(herald, swaks):
    message_id = queued_id(swaks(herald, "--from", "sender@remote.test",
                                 "--to", "team@example.test"))
    [alice_file] = herald.wait_for_messages("alice@example.test", 1)
    [bob_file] = herald.wait_for_messages("bob@example.test", 1)
    assert StoredMessage(alice_file).first("Delivered-To") == "alice@example.test"
    assert StoredMessage(bob_file).first("Delivered-To") == "bob@example.test"

    delivered = herald.wait_for_event(message_id, "delivered", count=2)
    mailboxes = [e[2]["mailbox"] for e in delivered]
    assert sorted(map(os.path.realpath, mailboxes)) == sorted(
        map(os.path.realpath, [alice_file, bob_file]))


def test_two_recipients_reaching_the_same_mailbox_get_one_copy(herald, swaks):
    message_id = queued_id(swaks(herald, "--from", "sender@remote.test",
                                 "--to", "alice@example.test,postmaster@example.test"))
    herald.wait_for_event(message_id, "delivered")
    herald.wait_for_empty_queue()
    assert len(herald.new_messages("alice@example.test")) == 1
    assert len(herald.trace(message_id).events_of("delivered")) == 1


def test_messages_survive_a_restart_on_the_same_data_dir(herald, swaks):
    first = queued_id(swaks(herald, "--from", "sender@remote.test", "--to",
                            "alice@example.test", "--header", "Subject: before restart"))
    herald.wait_for_event(first, "delivered")
    assert herald.stop() == 0

    herald.start()
    trace = herald.trace(first)
    assert trace.events_of("received") and trace.events_of("delivered"), trace.text
    assert first in herald.queue_list("--all")
    second = queued_id(swaks(herald, "--from", "sender@remote.test", "--to",
                             "alice@example.test", "--header", "Subject: after restart"))
    herald.wait_for_event(second, "delivered")
    assert len(herald.new_messages("alice@example.test")) == 2
