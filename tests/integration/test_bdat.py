"""CHUNKING (RFC 3030): BDAT chunks are read by their announced size, stored on LAST, and a
refused chunk is still read completely so the session stays in step."""

from herald_daemon import QUEUED_AS
from maildir_reader import StoredMessage
from smtp_wire import SmtpWire


def greeted_with_chunking(port):
    smtp = SmtpWire(port)
    assert smtp.greeting().code == 220
    assert "CHUNKING" in smtp.ehlo().extensions
    return smtp


def bdat(smtp, chunk, last=False):
    smtp.send(f"BDAT {len(chunk)}{' LAST' if last else ''}\r\n".encode() + chunk)
    return smtp.reply()


def test_bdat_chunks_then_last_are_stored_as_one_message(herald):
    chunks = [b"From: <sender@remote.test>\r\nSubject: chunked\r\n\r\n",
              b"first part of the body, ",
              b"second part\r\n.leading dot is not special in BDAT\r\n",
              b"last line\r\n"]
    with greeted_with_chunking(herald.port) as smtp:
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        assert smtp.command("RCPT TO:<alice@example.test>").code == 250
        for chunk in chunks[:-1]:
            assert bdat(smtp, chunk).code == 250
        reply = bdat(smtp, chunks[-1], last=True)
        assert QUEUED_AS.match(reply.raw), reply
        assert smtp.command("QUIT").code == 221
    [path] = herald.wait_for_messages("alice@example.test", 1)
    stored = StoredMessage(path)
    assert stored.first("Subject") == "chunked"
    assert stored.body == (b"first part of the body, second part\n"
                           b".leading dot is not special in BDAT\nlast line\n")


def test_bdat_zero_last_ends_the_message(herald):
    with greeted_with_chunking(herald.port) as smtp:
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        assert smtp.command("RCPT TO:<bob@example.test>").code == 250
        assert bdat(smtp, b"Subject: zero last\r\n\r\nbody\r\n").code == 250
        assert QUEUED_AS.match(bdat(smtp, b"", last=True).raw)
    herald.wait_for_messages("bob@example.test", 1)


def test_bdat_without_valid_recipient_is_read_and_refused_with_554_5_5_1(herald):
    with greeted_with_chunking(herald.port) as smtp:
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        assert smtp.command("RCPT TO:<nobody@example.test>").code == 550
        # The chunk holds text that would be a command if the server did not consume it.
        reply = bdat(smtp, b"QUIT\r\nSubject: x\r\n\r\nbody\r\n", last=True)
        assert reply.raw == "554 5.5.1 No valid recipients"
        assert smtp.command("NOOP").raw == "250 2.0.0 OK"
        assert smtp.command("RSET").raw == "250 2.0.0 OK"
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        assert smtp.command("RCPT TO:<alice@example.test>").code == 250
        assert QUEUED_AS.match(bdat(smtp, b"Subject: y\r\n\r\nok\r\n", last=True).raw)
    herald.wait_for_messages("alice@example.test", 1)
    assert len(herald.queue_list("--all")) == 1


def test_bdat_chunk_with_bare_lf_is_refused_with_554_5_6_0(herald):
    with greeted_with_chunking(herald.port) as smtp:
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        assert smtp.command("RCPT TO:<alice@example.test>").code == 250
        reply = bdat(smtp, b"Subject: x\r\n\r\nbare\nline feed\r\n", last=True)
        assert reply.code == 554 and reply.text.startswith("5.6.0 "), reply
        assert smtp.command("NOOP").raw == "250 2.0.0 OK"
    assert herald.all_stored_files() == []
    assert herald.queue_list("--all") == []
