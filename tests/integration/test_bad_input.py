"""Bad input gets a clear error and changes nothing: malformed content is refused and never
stored, protocol errors are answered, and a client that keeps erring is shown the door."""

import pytest

from herald_daemon import HOSTNAME, QUEUED_AS
from smtp_wire import SmtpWire, message

SMUGGLING_REFUSAL = ("554 5.6.0 Message contains bare CR, bare LF or NUL (RFC 5321 2.3.8); "
                     "not accepted")


def greeted(port):
    smtp = SmtpWire(port)
    assert smtp.greeting().code == 220
    assert smtp.ehlo().code == 250
    return smtp


@pytest.mark.parametrize("content", [
    b"Subject: bare LF\r\n\r\nline one\nline two\r\n",
    b"Subject: NUL\r\n\r\nbefore\x00after\r\n",
    b"Subject: bare CR\r\n\r\nline one\rline two\r\n",
    # SMTP smuggling: a bare-LF "end of data" followed by a second message must not split.
    b"Subject: smuggle\r\n\r\nhi\n.\r\nMAIL FROM:<evil@remote.test>\r\n",
], ids=["bare-lf", "nul", "bare-cr", "smuggling"])
def test_malformed_content_is_refused_with_554_5_6_0_and_the_session_continues(herald, content):
    with greeted(herald.port) as smtp:
        reply = smtp.transaction("sender@remote.test", ["alice@example.test"], content)
        assert reply.raw == SMUGGLING_REFUSAL
        assert smtp.command("NOOP").raw == "250 2.0.0 OK"
        assert herald.all_stored_files() == []
        assert herald.queue_list("--all") == []
        good = smtp.transaction("sender@remote.test", ["alice@example.test"],
                                message("afterwards", ["fine"]))
        assert QUEUED_AS.match(good.raw), good
    [path] = herald.wait_for_messages("alice@example.test", 1)
    assert b"evil" not in path.read_bytes()


def test_data_line_over_the_limit_is_refused_with_554_5_6_0(start_herald):
    herald = start_herald(limits={"max_data_line": 1000})
    with greeted(herald.port) as smtp:
        body = message("long line", ["y" * 1200])
        reply = smtp.transaction("sender@remote.test", ["alice@example.test"], body)
        assert reply.code == 554 and reply.text.startswith("5.6.0 "), reply
        assert "longer than" in reply.text, reply
        assert smtp.command("NOOP").code == 250
    assert herald.queue_list("--all") == []


def test_command_line_over_the_limit_gets_500_5_5_2(herald):
    with greeted(herald.port) as smtp:
        assert smtp.command("NOOP " + "x" * 3000).raw == "500 5.5.2 Line too long"
        assert smtp.command("NOOP").raw == "250 2.0.0 OK"


def test_unknown_command_gets_500_5_5_1(herald):
    with greeted(herald.port) as smtp:
        assert smtp.command("FROBNICATE now").raw == "500 5.5.1 Command unrecognized"
        assert smtp.command("NOOP").raw == "250 2.0.0 OK"


def test_commands_out_of_sequence_get_503_5_5_1(herald):
    with SmtpWire(herald.port) as smtp:
        assert smtp.greeting().code == 220
        reply = smtp.command("MAIL FROM:<sender@remote.test>")
        assert reply.code == 503 and reply.text.startswith("5.5.1 "), reply
        assert smtp.ehlo().code == 250
        for command in ("RCPT TO:<alice@example.test>", "DATA"):
            reply = smtp.command(command)
            assert reply.code == 503 and reply.text.startswith("5.5.1 "), (command, reply)
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        reply = smtp.command("MAIL FROM:<sender@remote.test>")
        assert reply.code == 503 and reply.text.startswith("5.5.1 "), reply
        assert smtp.command("RSET").raw == "250 2.0.0 OK"
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250


def test_more_errors_than_max_errors_get_421_4_7_0_and_the_connection_closes(start_herald):
    herald = start_herald(limits={"max_errors": 3})
    with greeted(herald.port) as smtp:
        for _ in range(3):
            assert smtp.command("BOGUS").code == 500
        reply = smtp.command("BOGUS")
        assert reply.raw == f"421 4.7.0 {HOSTNAME} too many errors, closing connection"
        assert smtp.closed_by_server()


def test_idle_client_gets_421_4_4_2_after_command_timeout(start_herald):
    herald = start_herald(limits={"command_timeout": "2s"})
    with SmtpWire(herald.port, timeout=30) as smtp:
        assert smtp.greeting().code == 220
        assert smtp.ehlo().code == 250
        reply = smtp.reply()
        assert reply.raw == f"421 4.4.2 {HOSTNAME} timeout, closing connection"
        assert smtp.closed_by_server()


def test_commands_pipelined_after_starttls_are_discarded_cve_2011_0411(herald):
    with greeted(herald.port) as smtp:
        smtp.send("STARTTLS\r\nRSET\r\n")
        assert smtp.reply().raw == "220 2.0.0 Ready to start TLS"
        smtp.start_tls()
        reply = smtp.ehlo()
        assert reply.code == 250 and reply.lines[0].startswith(f"250-{HOSTNAME} greets"), reply
        assert "STARTTLS" not in reply.extensions
        assert smtp.command("STARTTLS").raw == "503 5.5.1 TLS already active"
        assert smtp.command("NOOP").raw == "250 2.0.0 OK"


def test_client_vanishing_in_the_middle_of_data_leaves_nothing(herald):
    with greeted(herald.port) as smtp:
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        assert smtp.command("RCPT TO:<alice@example.test>").code == 250
        assert smtp.command("DATA").code == 354
        smtp.send(message("cut short", ["half of a message"] * 50))
    # The daemon notices the close; a new session proves it is still serving.
    with greeted(herald.port) as smtp:
        assert smtp.command("QUIT").code == 221
    assert herald.all_stored_files() == []
    assert herald.queue_list("--all") == []
