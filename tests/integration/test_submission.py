"""Submission (RFC 6409) on the `submission` listener (STARTTLS, then AUTH) and the
`submissions` listener (implicit TLS, RFC 8314): AUTH PLAIN and LOGIN against the users'
crypt(3) hashes, the limit on failed logins, the sender an authenticated user may use,
and the MX listener, which still offers no AUTH and relays for nobody."""

import base64
import subprocess

import pytest

from bounded_wait import seconds
from herald_daemon import BIN_DIR, QUEUED_AS
from maildir_reader import StoredMessage
from smtp_wire import SmtpWire, message

ALICE = "alice@example.test"
BOB = "bob@example.test"
PASSWORD = "correct horse battery"


def hash_password(password, *options):
    """`herald hash-password OPTIONS` with the password on stdin: (exit code, stdout)."""
    result = subprocess.run([str(BIN_DIR / "herald"), "hash-password", *options],
                            input=password + "\n", capture_output=True, text=True,
                            timeout=seconds(30))
    return result.returncode, result.stdout.strip()


@pytest.fixture(scope="module")
def alice_hash():
    code, hash_ = hash_password(PASSWORD)
    assert code == 0 and hash_.startswith("$y$"), hash_
    return hash_


@pytest.fixture
def submission_herald(start_herald, alice_hash):
    return start_herald(submission=True, password_hashes={ALICE: alice_hash})


def submission_swaks(daemon, port, *args):
    result = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(port), "--timeout",
         str(int(seconds(20))), "--helo", "laptop.example.test", *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds(60))
    return result.returncode, result.stdout


def plain(login, password):
    return base64.b64encode(f"\0{login}\0{password}".encode()).decode()


def tls_session(port):
    """A submission connection past STARTTLS and the second EHLO; returns (wire, ehlo reply)."""
    wire = SmtpWire(port)
    assert wire.greeting().code == 220
    wire.ehlo()
    assert wire.command("STARTTLS").code == 220
    wire.start_tls()
    return wire, wire.ehlo()


def test_login_with_plain_after_starttls_delivers_with_esmtpsa_and_records_the_user(
        submission_herald):
    code, transcript = submission_swaks(
        submission_herald, submission_herald.submission_port, "-tls", "--auth", "PLAIN",
        "--auth-user", ALICE, "--auth-password", PASSWORD, "--from", ALICE, "--to", BOB,
        "--header", "Subject: submitted")
    assert code == 0, transcript
    assert "235 2.7.0 Authentication successful" in transcript
    message_id = QUEUED_AS.search(transcript).group(1)

    [path] = submission_herald.wait_for_messages(BOB, 1)
    received = StoredMessage(path).first("Received")
    assert "with ESMTPSA" in received, received
    trace = submission_herald.trace(message_id)
    assert trace.header_line("auth") == ALICE, trace.text
    assert "listener=submission" in trace.header_line("peer"), trace.text
    [(_, _, fields)] = trace.events_of("received")
    assert fields["auth"] == ALICE, trace.text
    assert PASSWORD not in submission_herald.log_text()


def test_login_with_login_on_implicit_tls_listener_delivers(submission_herald):
    code, transcript = submission_swaks(
        submission_herald, submission_herald.submissions_port, "--tls-on-connect", "--auth",
        "LOGIN", "--auth-user", ALICE, "--auth-password", PASSWORD, "--from", ALICE, "--to",
        BOB)
    assert code == 0, transcript
    assert "334 VXNlcm5hbWU6" in transcript and "235 2.7.0" in transcript, transcript
    [path] = submission_herald.wait_for_messages(BOB, 1)
    assert "with ESMTPSA" in StoredMessage(path).first("Received")


def test_auth_is_not_offered_before_starttls_and_mail_needs_auth(submission_herald):
    with SmtpWire(submission_herald.submission_port) as wire:
        assert wire.greeting().code == 220
        extensions = wire.ehlo().extensions
        assert "STARTTLS" in extensions
        assert not any(e.startswith("AUTH") for e in extensions), extensions
        reply = wire.command("AUTH PLAIN " + plain(ALICE, PASSWORD))
        assert reply.code == 538, reply
        reply = wire.command(f"MAIL FROM:<{ALICE}>")
        assert (reply.code, reply.text) == (530, "5.7.0 Authentication required")

    wire, ehlo = tls_session(submission_herald.submission_port)
    with wire:
        assert "AUTH PLAIN LOGIN" in ehlo.extensions, ehlo
        reply = wire.command(f"MAIL FROM:<{ALICE}>")
        assert (reply.code, reply.text) == (530, "5.7.0 Authentication required")


def test_wrong_password_is_refused_with_535_and_logged_without_the_password(submission_herald):
    code, transcript = submission_swaks(
        submission_herald, submission_herald.submission_port, "-tls", "--auth", "PLAIN",
        "--auth-user", ALICE, "--auth-password", "not-the-password", "--from", ALICE, "--to",
        BOB)
    assert code != 0
    assert "535 5.7.8 Authentication credentials invalid" in transcript, transcript
    log = submission_herald.log_text()
    assert f'auth failed peer=127.0.0.1 login="{ALICE}"' in log, log
    assert "not-the-password" not in log


def test_failed_logins_past_the_limit_get_454(start_herald, alice_hash):
    daemon = start_herald(submission=True, password_hashes={ALICE: alice_hash},
                          limits={"max_auth_failures": 2})
    wire, _ = tls_session(daemon.submission_port)
    with wire:
        for _ in range(2):
            reply = wire.command("AUTH PLAIN " + plain(ALICE, "guess"))
            assert reply.code == 535, reply
        reply = wire.command("AUTH PLAIN " + plain(ALICE, PASSWORD))
        assert (reply.code, reply.text) == (
            454, "4.7.0 Too many failed authentications, try later")
    # The limit is per client address, not per connection.
    wire, _ = tls_session(daemon.submission_port)
    with wire:
        assert wire.command("AUTH PLAIN " + plain(ALICE, PASSWORD)).code == 454


def test_sender_not_owned_is_refused_with_553_and_an_authenticated_user_may_relay(submission_herald):
    wire, _ = tls_session(submission_herald.submission_port)
    with wire:
        assert wire.command("AUTH PLAIN " + plain(ALICE, PASSWORD)).code == 235
        reply = wire.command(f"MAIL FROM:<{BOB}>")
        assert (reply.code, reply.text) == (553, f"5.7.1 Sender address not owned by <{ALICE}>")
        assert wire.command("MAIL FROM:<>").code == 553
        # An alias that expands to alice is hers to send as.
        assert wire.command("MAIL FROM:<postmaster@example.test>").code == 250
        reply = wire.command("RCPT TO:<someone@elsewhere.test>")
        assert (reply.code, reply.text) == (250, "2.1.5 Recipient OK")
        assert wire.command(f"RCPT TO:<{BOB}>").code == 250


def test_auth_on_the_mx_listener_is_502_and_relay_stays_denied(submission_herald):
    with SmtpWire(submission_herald.port) as wire:
        assert wire.greeting().code == 220
        assert not any(e.startswith("AUTH") for e in wire.ehlo().extensions)
        reply = wire.command("AUTH PLAIN " + plain(ALICE, PASSWORD))
        assert reply.code == 502, reply
        assert wire.command("MAIL FROM:<sender@remote.test>").code == 250
        assert wire.command("RCPT TO:<someone@elsewhere.test>").code == 554


def test_hash_password_schemes_and_empty_input():
    code, sha512 = hash_password("pw", "--scheme", "sha512crypt")
    assert code == 0 and sha512.startswith("$6$"), sha512
    code, bcrypt = hash_password("pw", "--scheme", "bcrypt")
    assert code == 0 and bcrypt.startswith("$2b$"), bcrypt
    code, _ = hash_password("")
    assert code == 2


def test_sha512crypt_hash_from_hash_password_works_for_login(start_herald):
    _, hash_ = hash_password("s3cret", "--scheme", "sha512crypt")
    daemon = start_herald(submission=True, password_hashes={BOB: hash_})
    wire, _ = tls_session(daemon.submission_port)
    with wire:
        assert wire.command("AUTH PLAIN " + plain(BOB, "s3cret")).code == 235
        assert wire.transaction(BOB, [ALICE], message("from bob", ["hi"], sender=BOB)).code == 250
    daemon.wait_for_messages(ALICE, 1)


@pytest.mark.parametrize("header_from, expected", [
    (BOB, 553),
    (ALICE, 250),
    ("postmaster@example.test", 250),  # an alias that expands to alice
], ids=["another-user", "her-own", "her-alias"])
def test_header_from_must_be_the_users_own(submission_herald, header_from, expected):
    code, transcript = submission_swaks(
        submission_herald, submission_herald.submission_port, "-tls", "--auth", "PLAIN",
        "--auth-user", ALICE, "--auth-password", PASSWORD, "--from", ALICE, "--to", BOB,
        "--header", f"From: <{header_from}>", "--header", "Subject: whose?")
    if expected == 553:
        assert (f"553 5.7.1 Header From address <{header_from}> is not yours to send as; not "
                f"accepted from <{ALICE}>") in transcript, transcript
        assert submission_herald.queue_list("--all") == []
    else:
        assert code == 0 and QUEUED_AS.search(transcript), transcript
        submission_herald.wait_for_messages(BOB, 1)
