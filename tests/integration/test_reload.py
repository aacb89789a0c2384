"""SIGHUP makes heraldd reread herald.toml: new users (and passwords, aliases) and a new TLS
certificate take effect for sessions that start afterwards, while a session in progress
keeps what it started with; a file that does not parse is refused with one error line and
heraldd carries on with what it had; a setting that needs a restart is named in the log."""

import os
import pwd
import signal
import smtplib
import ssl
import subprocess

from bounded_wait import seconds, wait_until
from herald_daemon import QUEUED_AS

CAROL = '\n[[user]]\naddress = "carol@example.test"\n'


def hang_up(herald, log_line, count=1):
    """SIGHUP, then waits until the log holds `log_line` `count` times (this reload's)."""
    herald.process.send_signal(signal.SIGHUP)
    wait_until(lambda: herald.log_text().count(log_line) >= count, seconds(20),
               f"heraldd to log {log_line!r}")
    assert herald.running


def rcpt_reply(client, address):
    code, _ = client.rcpt(address)
    return code


def open_session(herald):
    client = smtplib.SMTP("127.0.0.1", herald.port, timeout=seconds(30))
    client.ehlo("client.remote.test")
    assert client.mail("sender@remote.test")[0] == 250
    return client


def send(herald, swaks, to):
    return swaks(herald, "--from", "sender@remote.test", "--to", to, expect_success=False)


def test_a_user_added_to_the_file_is_accepted_after_sighup(herald, swaks):
    assert "550" in send(herald, swaks, "carol@example.test")
    in_progress = open_session(herald)

    herald.config.write_text(herald.config.read_text() + CAROL)
    hang_up(herald, "reloaded ")
    assert "reload: [[user]] changed; applied to new sessions and attempts" in herald.log_text()

    transcript = send(herald, swaks, "carol@example.test")
    assert QUEUED_AS.search(transcript), transcript
    herald.wait_for_messages("carol@example.test", 1)
    # The session that started before the reload still has the directory it started with.
    assert rcpt_reply(in_progress, "carol@example.test") == 550
    assert rcpt_reply(in_progress, "alice@example.test") == 250
    in_progress.quit()


def test_a_broken_file_is_refused_and_the_running_configuration_stays(herald, swaks):
    herald.config.write_text(herald.config.read_text() + CAROL)
    hang_up(herald, "reloaded ")

    good = herald.config.read_text()
    herald.config.write_text(good + "\n[[user]\naddress = \n")
    hang_up(herald, "reload refused, keeping the running configuration: ")
    [line] = [l for l in herald.log_text().splitlines() if "reload refused" in l]
    assert "herald.toml" in line, line  # names the file (and where in it)

    for address in ("alice@example.test", "carol@example.test"):
        assert QUEUED_AS.search(send(herald, swaks, address)), address

    # A file that parses but does not validate is refused the same way.
    herald.config.write_text(
        good + '\n[[alias]]\naddress = "x@example.test"\nto = ["nobody@example.test"]\n')
    hang_up(herald, "reload refused, keeping the running configuration: ", count=2)
    assert QUEUED_AS.search(send(herald, swaks, "carol@example.test"))

    # So is one whose DKIM key cannot be loaded: mail is never signed with half a table.
    herald.config.write_text(good + '\n[[dkim]]\ndomain = "example.test"\nselector = "s1"\n'
                             'key = "missing.pem"\n')
    hang_up(herald, "reload refused, keeping the running configuration: ", count=3)
    refusals = [l for l in herald.log_text().splitlines() if "reload refused" in l]
    assert "[[dkim]] domain=example.test selector=s1" in refusals[-1], refusals[-1]
    assert QUEUED_AS.search(send(herald, swaks, "carol@example.test"))


def test_settings_that_need_a_restart_are_named_and_not_applied(herald, swaks):
    text = herald.config.read_text()
    herald.config.write_text(text.replace('data_dir = "', 'data_dir = "/elsewhere').replace(
        "[[domain]]", "[limits]\nmax_connections_per_ip = 1\n\n[[domain]]"))
    hang_up(herald, "reloaded ")
    log = herald.log_text()
    assert "reload: [server] data_dir changed; takes effect after a restart" in log, log
    assert "reload: [limits] max_connections_per_ip changed; takes effect after a restart" in log
    # Two sessions from one address at once: the old limit holds.
    first, second = open_session(herald), open_session(herald)
    first.quit()
    second.quit()
    transcript = swaks(herald, "--from", "sender@remote.test", "--to", "alice@example.test")
    assert QUEUED_AS.search(transcript), transcript
    herald.wait_for_messages("alice@example.test", 1)  # delivered in the old data_dir


def announced_size(client):
    """The SIZE a (new) EHLO on the session announces."""
    code, text = client.ehlo("client.remote.test")
    assert code == 250, text
    [size] = [line.split()[1] for line in text.decode().splitlines() if line.startswith("SIZE ")]
    return int(size)


def test_limits_and_policy_apply_to_new_sessions_while_open_ones_keep_theirs(start_herald):
    herald = start_herald(limits={"max_message_size": 1000000})
    in_progress = smtplib.SMTP("127.0.0.1", herald.port, timeout=seconds(30))
    assert announced_size(in_progress) == 1000000

    text = herald.config.read_text()
    assert "max_message_size = 1000000\n" in text and "[policy]\n" in text, text
    herald.config.write_text(
        text.replace("max_message_size = 1000000\n", "max_message_size = 2000000\n")
        .replace("[policy]\n", '[policy]\nspf_fail = "reject"\nmax_signatures = 3\n'))
    hang_up(herald, "reloaded ")
    log = herald.log_text()
    for applied in ("[limits] max_message_size", "[policy] spf_fail"):
        assert f"reload: {applied} changed; applied to new sessions and attempts" in log, log
    assert "reload: [policy] max_signatures changed; takes effect after a restart" in log, log

    fresh = smtplib.SMTP("127.0.0.1", herald.port, timeout=seconds(30))
    assert announced_size(fresh) == 2000000
    assert fresh.mail("sender@remote.test", ["SIZE=1500000"])[0] == 250
    fresh.quit()
    # The session that began before the reload keeps the limits it began with.
    assert announced_size(in_progress) == 1000000
    code, text = in_progress.mail("sender@remote.test", ["SIZE=1500000"])
    assert code == 552, text
    in_progress.quit()


def make_certificate(directory, name):
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}", "-days", "2",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=seconds(30))
    # A reload reads them as the user heraldd runs as (started as root: herald by default).
    if os.geteuid() == 0:
        herald = pwd.getpwnam("herald")
        for path in (cert, key):
            os.chown(path, herald.pw_uid, herald.pw_gid)
    return cert, key


def presented_certificate(herald):
    client = smtplib.SMTP("127.0.0.1", herald.port, timeout=seconds(30))
    client.ehlo("client.remote.test")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client.starttls(context=context)
    der = client.sock.getpeercert(binary_form=True)
    client.quit()
    return ssl.DER_cert_to_PEM_cert(der)


def same_certificate(pem_a, pem_b):
    return ssl.PEM_cert_to_DER_cert(pem_a) == ssl.PEM_cert_to_DER_cert(pem_b)


def test_a_renewed_certificate_is_served_to_new_sessions_after_sighup(start_herald, tmp_path):
    first = make_certificate(tmp_path, "first")
    herald = start_herald()
    herald.stop()
    text = herald.config.read_text()
    tls_table = f'[tls]\ncert = "{first[0]}"\nkey = "{first[1]}"\n\n'
    herald.config.write_text(text.replace("[[domain]]", tls_table + "[[domain]]", 1))
    herald.start()
    assert same_certificate(presented_certificate(herald), first[0].read_text())

    # Renewed in place, as certbot does: same paths, new pair.
    second = make_certificate(tmp_path, "second")
    first[0].write_text(second[0].read_text())
    first[1].write_text(second[1].read_text())
    hang_up(herald, "reloaded ")
    assert same_certificate(presented_certificate(herald), second[0].read_text())
