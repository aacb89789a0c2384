"""Connections and the daemon's lifecycle: per-address limits, shutdown, configuration
errors, and a burst of real load from Postfix's smtp-source."""

import subprocess

from bounded_wait import seconds, wait_until
from herald_daemon import BIN_DIR, HOSTNAME
from smtp_wire import SmtpWire

TOO_MANY_CONNECTIONS = f"421 4.7.0 {HOSTNAME} too many connections, try again later"


def greeted_session(port):
    """A session the daemon admitted, or None if it answered 421. The daemon may still count
    the start-up probe's connection for a moment after it closed."""
    smtp = SmtpWire(port)
    if smtp.greeting().code == 220:
        return smtp
    smtp.close()
    return None


def test_third_connection_from_one_address_gets_421_4_7_0(start_herald):
    herald = start_herald(limits={"max_connections_per_ip": 2})
    first = wait_until(lambda: greeted_session(herald.port), seconds(5), "a first session")
    second = wait_until(lambda: greeted_session(herald.port), seconds(5), "a second session")
    try:
        with SmtpWire(herald.port) as third:
            assert third.greeting().raw == TOO_MANY_CONNECTIONS
            assert third.closed_by_server()
        assert first.command("NOOP").code == 250
        assert second.command("NOOP").code == 250
    finally:
        first.close()
        second.close()


def test_sessions_are_told_421_4_3_2_when_the_daemon_shuts_down(herald):
    with SmtpWire(herald.port) as smtp:
        assert smtp.greeting().code == 220
        assert smtp.ehlo().code == 250
        herald.process.terminate()
        assert smtp.reply().raw == f"421 4.3.2 {HOSTNAME} shutting down"
        assert smtp.closed_by_server()
    assert herald.process.wait(seconds(15)) == 0
    herald.process = None


def test_configuration_error_exits_with_2(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nhostname = "mx.example.test"\ndata_dir = "d"\ncolour = "red"\n'
                      '[[listen]]\naddress = "127.0.0.1:1"\n')
    result = subprocess.run([str(BIN_DIR / "heraldd"), "--config", str(config)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=seconds(20))
    assert result.returncode == 2, result
    assert "colour" in result.stderr


def test_smtp_source_burst_of_500_messages_all_reach_the_mailbox(herald):
    result = subprocess.run(
        ["/usr/sbin/smtp-source", "-s", "10", "-m", "500", "-l", "4096", "-f", "a@b.test",
         "-t", "alice@example.test", f"127.0.0.1:{herald.port}"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds(120))
    assert result.returncode == 0 and not result.stderr, result
    herald.wait_for_messages("alice@example.test", 500, timeout=seconds(60))
    herald.wait_for_empty_queue(timeout=seconds(60))
    assert len(herald.new_messages("alice@example.test")) == 500
    assert len(herald.queue_list("--all", "--state", "delivered")) == 500
