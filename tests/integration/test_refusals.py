"""herald refuses during the transaction (never accept-then-drop): unknown users, relaying,
oversized messages and too many recipients get their codes, and nothing is stored."""

import smtplib

from herald_daemon import QUEUED_AS
from smtp_wire import SmtpWire, message


def assert_nothing_stored(herald):
    assert herald.all_stored_files() == []
    assert herald.queue_list("--all") == []


def greeted(port):
    smtp = SmtpWire(port)
    assert smtp.greeting().code == 220
    assert smtp.ehlo().code == 250
    return smtp


def test_unknown_local_user_is_refused_at_rcpt_with_550_5_1_1(herald):
    with greeted(herald.port) as smtp:
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        reply = smtp.command("RCPT TO:<nobody@example.test>")
        assert reply.raw == "550 5.1.1 <nobody@example.test>: no such user here"
        assert smtp.command("DATA").raw == "554 5.5.1 No valid recipients"
        assert smtp.command("QUIT").code == 221
    assert_nothing_stored(herald)


def test_non_local_domain_is_refused_with_554_5_7_1_no_open_relay(herald):
    with greeted(herald.port) as smtp:
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        reply = smtp.command("RCPT TO:<victim@elsewhere.test>")
        assert reply.raw == "554 5.7.1 <victim@elsewhere.test>: relaying denied"
        reply = smtp.command("RCPT TO:<alice@example.test@elsewhere.test>")
        assert reply.code // 100 == 5, reply
        assert smtp.command("DATA").raw == "554 5.5.1 No valid recipients"
    assert_nothing_stored(herald)


def test_smtplib_sees_the_refusals_too(herald):
    with smtplib.SMTP("127.0.0.1", herald.port, timeout=30) as client:
        try:
            client.sendmail("sender@remote.test", ["nobody@example.test", "x@elsewhere.test"],
                            message("refused", ["no"]))
            raise AssertionError("sendmail to refused recipients succeeded")
        except smtplib.SMTPRecipientsRefused as refused:
            assert refused.recipients["nobody@example.test"][0] == 550
            assert refused.recipients["x@elsewhere.test"][0] == 554
    assert_nothing_stored(herald)


def test_size_parameter_over_the_limit_is_refused_at_mail_with_552_5_3_4(start_herald):
    herald = start_herald(limits={"max_message_size": 10000})
    with SmtpWire(herald.port) as smtp:
        assert smtp.greeting().code == 220
        assert "SIZE 10000" in smtp.ehlo().extensions
        reply = smtp.command("MAIL FROM:<sender@remote.test> SIZE=20000")
        assert reply.raw == "552 5.3.4 Message size exceeds fixed maximum message size"
        assert smtp.command("MAIL FROM:<sender@remote.test> SIZE=5000").code == 250
    assert_nothing_stored(herald)


def test_data_over_the_size_limit_is_refused_with_552_5_3_4_and_not_stored(start_herald):
    herald = start_herald(limits={"max_message_size": 10000})
    with greeted(herald.port) as smtp:
        body = message("too big", ["x" * 70] * 300)
        reply = smtp.transaction("sender@remote.test", ["alice@example.test"], body)
        assert reply.raw == "552 5.3.4 Message size exceeds fixed maximum message size"
        assert smtp.command("NOOP").raw == "250 2.0.0 OK"
        small = smtp.transaction("sender@remote.test", ["alice@example.test"],
                                 message("small", ["fits"]))
        assert QUEUED_AS.match(small.raw), small
    herald.wait_for_messages("alice@example.test", 1)
    assert len(herald.queue_list("--all")) == 1


def test_recipients_over_the_limit_get_452_4_5_3_and_the_rest_is_delivered(start_herald):
    herald = start_herald(limits={"max_recipients": 2})
    with greeted(herald.port) as smtp:
        assert smtp.command("MAIL FROM:<sender@remote.test>").code == 250
        assert smtp.command("RCPT TO:<alice@example.test>").code == 250
        assert smtp.command("RCPT TO:<bob@example.test>").code == 250
        assert smtp.command("RCPT TO:<postmaster@example.test>").raw == (
            "452 4.5.3 Too many recipients")
        assert smtp.command("DATA").code == 354
        smtp.send(message("two of three", ["hi"]) + ".\r\n")
        assert QUEUED_AS.match(smtp.reply().raw)
    herald.wait_for_messages("alice@example.test", 1)
    herald.wait_for_messages("bob@example.test", 1)
