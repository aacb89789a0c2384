"""The ESMTP parameters that carry a message's quality of service (DSN, RFC 3461; DELIVERBY,
RFC 2852; MT-PRIORITY, RFC 6710) are announced in EHLO, checked at MAIL and RCPT, stored
with the message and shown by `herald trace`."""

from herald_daemon import QUEUED_AS
from smtp_wire import SmtpWire, message


def greeted(port):
    smtp = SmtpWire(port)
    assert smtp.greeting().code == 220
    ehlo = smtp.ehlo()
    assert ehlo.code == 250
    return smtp, ehlo


def test_ehlo_announces_dsn_deliverby_and_mt_priority(herald):
    smtp, ehlo = greeted(herald.port)
    with smtp:
        assert "DSN" in ehlo.extensions
        assert "DELIVERBY 60" in ehlo.extensions
        assert "MT-PRIORITY" in ehlo.extensions


def test_qos_parameters_are_stored_and_traced(herald):
    smtp, _ = greeted(herald.port)
    with smtp:
        reply = smtp.command(
            "MAIL FROM:<a@b.test> RET=HDRS ENVID=abc+2Bdef BY=3600;N MT-PRIORITY=3")
        assert reply.raw == "250 2.1.0 Sender OK"
        reply = smtp.command(
            "RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice@example.test")
        assert reply.raw == "250 2.1.5 Recipient OK"
        assert smtp.command("DATA").code == 354
        smtp.send(message("qos", ["hello"]) + ".\r\n")
        end = smtp.reply()
        assert smtp.command("QUIT").code == 221
    match = QUEUED_AS.search(end.raw)
    assert match, end
    trace = herald.trace(match.group(1))

    qos = trace.header_line("qos")
    # Port 25 is not authenticated: the priority is reset to 0 and the ledger says why.
    assert qos.startswith("priority=0  deliver_by="), trace.text
    assert "mode=N" in qos and "ret=HDRS" in qos and "envid=abc+def" in qos, trace.text
    (received,) = trace.events_of("received")
    assert received[2]["priority_reset"] == "from 3: sender neither authenticated nor trusted", trace.text
    deliveries = trace.text.split("\n\n")[2]
    assert "notify=SUCCESS,FAILURE" in deliveries, trace.text
    assert "orcpt=rfc822;alice@example.test" in deliveries, trace.text


def test_bad_qos_values_are_refused_with_501_5_5_4(herald):
    smtp, _ = greeted(herald.port)
    with smtp:
        assert smtp.command("MAIL FROM:<a@b.test> MT-PRIORITY=10").raw.startswith("501 5.5.4")
        assert smtp.command("MAIL FROM:<a@b.test> BY=30;R").raw == (
            "501 5.5.4 BY time below the minimum of 60 seconds")
        assert smtp.command("MAIL FROM:<a@b.test> RET=FULL").code == 250
        reply = smtp.command("RCPT TO:<alice@example.test> NOTIFY=NEVER,SUCCESS")
        assert reply.raw.startswith("501 5.5.4"), reply
        assert smtp.command("QUIT").code == 221
    assert herald.queue_list("--all") == []
