"""The relay tests' peers work on their own, without herald: nsd answers what the zone data
says (checked with dnspython), and the scripted MTA answers swaks and smtplib as its rules
say and records what it received. A relay test that fails should never be a fixture bug."""

import smtplib
import subprocess

import dns.message
import dns.query
import dns.rcode

from bounded_wait import seconds
from dns_zone import Zone
from smtp_peer import make_self_signed_pair


def ask(server, name, rtype, tcp=False):
    query = dns.message.make_query(name, rtype)
    send = dns.query.tcp if tcp else dns.query.udp
    answer = send(query, "127.0.0.1", port=server.port, timeout=seconds(2))
    return dns.rcode.to_text(answer.rcode()), sorted(
        rdata.to_text() for rrset in answer.answer for rdata in rrset)


def test_nsd_serves_mx_null_mx_a_aaaa_and_txt_over_udp_and_tcp(start_nsd):
    server = start_nsd([
        Zone("relay.test").mx(20, "mx2.relay.test").mx(10, "mx1.relay.test")
        .a("mx1", "127.0.0.11").a("mx2", "127.0.0.12").aaaa("mx1", "::1")
        .txt("@", 'v=spf1 ip4:127.0.0.0/8 "quoted" -all'),
        Zone("nomail.test").null_mx(),
    ])
    assert ask(server, "relay.test", "MX") == ("NOERROR", ["10 mx1.relay.test.",
                                                           "20 mx2.relay.test."])
    assert ask(server, "relay.test", "MX", tcp=True)[1] == ["10 mx1.relay.test.",
                                                            "20 mx2.relay.test."]
    assert ask(server, "nomail.test", "MX") == ("NOERROR", ["0 ."])
    assert ask(server, "mx1.relay.test", "A") == ("NOERROR", ["127.0.0.11"])
    assert ask(server, "mx1.relay.test", "AAAA") == ("NOERROR", ["::1"])
    assert ask(server, "relay.test", "TXT") == (
        "NOERROR", ['"v=spf1 ip4:127.0.0.0/8 \\"quoted\\" -all"'])
    assert ask(server, "missing.relay.test", "A") == ("NXDOMAIN", [])
    assert ask(server, "elsewhere.test", "A")[0] == "REFUSED"


def swaks_to(peer, recipient, *args):
    result = subprocess.run(
        ["swaks", "--server", peer.host, "--port", str(peer.port), "--timeout",
         str(int(seconds(20))), "--from", "alice@example.test", "--to", recipient, *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=seconds(60))
    return result.returncode, result.stdout


def test_peer_accepts_tempfails_rejects_and_drops_as_its_rules_say(start_peer):
    peer = start_peer("127.0.0.50", name="mx1.fixture.test")
    peer.rule("later@fixture.test", tempfail_first=1)
    peer.rule("never@fixture.test", reject=True)
    peer.rule("drop@fixture.test", drop_first=1)

    code, out = swaks_to(peer, "ok@fixture.test")
    assert code == 0 and "250 2.0.0 Ok: message 1 accepted by mx1.fixture.test" in out, out
    code, out = swaks_to(peer, "later@fixture.test")
    assert code != 0 and "451 4.3.0 <later@fixture.test>" in out, out
    code, out = swaks_to(peer, "later@fixture.test")
    assert code == 0, out
    code, out = swaks_to(peer, "never@fixture.test")
    assert code != 0 and "550 5.1.1 <never@fixture.test>" in out, out
    code, out = swaks_to(peer, "drop@fixture.test")
    assert code != 0 and "250 2.0.0" not in out.split(" -> .")[-1], out
    code, out = swaks_to(peer, "drop@fixture.test")
    assert code == 0, out

    assert [t.rcpt_tos for t in peer.messages()] == [
        ["ok@fixture.test"], ["later@fixture.test"], ["drop@fixture.test"]]
    assert [t.outcome for t in peer.transactions] == ["accepted", "accepted", "dropped",
                                                      "accepted"]
    assert peer.attempts("later@fixture.test") == 2 and peer.attempts("never@fixture.test") == 1
    assert peer.connections == 6


def test_peer_records_dsn_deliverby_and_priority_parameters_and_starttls(start_peer, tmp_path):
    pair = make_self_signed_pair(tmp_path, "mx1.fixture.test")
    peer = start_peer("127.0.0.51", name="mx1.fixture.test", tls_pair=pair)
    peer.default.data_delay = 0.2

    client = smtplib.SMTP(peer.host, peer.port, timeout=seconds(20))
    client.ehlo("sender.example.test")
    assert client.has_extn("dsn") and client.has_extn("starttls")
    client.starttls()
    client.ehlo("sender.example.test")
    assert client.mail("alice@example.test", ["RET=HDRS", "ENVID=ab+2Bc", "BY=120;R",
                                              "MT-PRIORITY=3"])[0] == 250
    assert client.rcpt("bob@fixture.test", ["NOTIFY=SUCCESS,FAILURE",
                                            "ORCPT=rfc822;Bob@fixture.test"])[0] == 250
    code, reply = client.data(b"Subject: parameters\r\n\r\nbody\r\n")
    assert code == 250 and b"accepted by mx1.fixture.test" in reply
    client.quit()

    [arrived] = peer.messages()
    assert arrived.tls and arrived.helo == "sender.example.test"
    assert arrived.mail_parameters == {"RET": "HDRS", "ENVID": "ab+2Bc", "BY": "120;R",
                                       "MT-PRIORITY": "3"}
    assert arrived.rcpt_parameters == {"bob@fixture.test": {
        "NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;Bob@fixture.test"}}
    assert arrived.data.endswith(b"body\r\n")
    assert peer.connections == 1


def test_peer_without_dsn_does_not_announce_it(start_peer):
    peer = start_peer("127.0.0.52", announce_dsn=False)
    client = smtplib.SMTP(peer.host, peer.port, timeout=seconds(20))
    client.ehlo("sender.example.test")
    assert not client.has_extn("dsn")
    client.quit()
