"""ARC sealing of forwarded mail end to end (RFC 8617 5.1): an [[alias]] on herald forwards
mail from the internet to bob@elsewhere.test, and herald, configured with an [arc] key made
by `herald dkim keygen`, seals each forwarded copy after checking it. The copy that
elsewhere.test's MX (an aiosmtpd peer) receives is validated by Debian's python3-dkim
(dkimpy's arc_verify) against the records nsd publishes: a first seal (cv=none) on mail
that came unsealed, and a second one (cv=pass) on mail a mailing list had sealed before
with dkimpy's arcsign.
"""

import email
import email.policy
import subprocess

import dkim
import pytest

from bounded_wait import seconds
from dns_zone import Zone
from herald_daemon import BIN_DIR, QUEUED_AS, HeraldDaemon
from relay_support import OUTBOUND, QUEUE, Submitter
from test_dkim_keygen import keygen, record_of
from test_dkim_signing import txt_from

ARC_SELECTOR = "arc2026"


def newest_seal(data):
    """The tags of the first (newest) ARC-Seal field of `data`, as {name: value} bytes."""
    parsed = email.message_from_bytes(data, policy=email.policy.compat32)
    seals = parsed.get_all("ARC-Seal", [])
    assert seals, data[:300]
    return dkim.util.parse_tag_value(seals[0].encode())


@pytest.fixture
def forwarder(start_herald, start_nsd, start_peer, tmp_path):
    """herald with away@example.test -> bob@elsewhere.test and an [arc] key for example.test;
    lists.test has an RSA key for arcsign. Returns (herald, elsewhere's peer, nsd, list key)."""
    arc_key = tmp_path / "arc.pem"
    made = keygen("example.test", ARC_SELECTOR, "--key-out", str(arc_key))
    assert made.returncode == 0, made.stderr
    list_key = tmp_path / "list.pem"
    made_list = keygen("lists.test", "list", "--key-out", str(list_key))
    assert made_list.returncode == 0, made_list.stderr
    elsewhere = start_peer("127.0.0.31", name="mx1.elsewhere.test")
    nsd = start_nsd([
        Zone("elsewhere.test").mx(10, "mx1.elsewhere.test").a("mx1", "127.0.0.31"),
        Zone("example.test").txt(f"{ARC_SELECTOR}._domainkey", record_of(made.stdout)),
        Zone("lists.test").txt("list._domainkey", record_of(made_list.stdout)),
    ])
    herald = start_herald(
        dns_servers=[nsd.address], outbound=dict(OUTBOUND, mx_port=elsewhere.port), queue=QUEUE,
        aliases=[{"address": "away@example.test", "to": ["bob@elsewhere.test"]}],
        arc={"domain": "example.test", "selector": ARC_SELECTOR, "key": str(arc_key)})
    return herald, elsewhere, nsd, list_key


def forward(herald, data):
    """`data` sent as it is from the internet to the alias; herald's message id."""
    with Submitter(herald, authenticated=False) as submitter:
        client = submitter.client
        assert client.mail("list-bounces@lists.test")[0] == 250
        assert client.rcpt("away@example.test")[0] == 250
        code, reply = client.data(data)
    match = QUEUED_AS.match(f"{code} {reply.decode(errors='replace')}")
    assert match, (code, reply)
    return match.group(1)


def test_forwarded_mail_gets_a_first_seal_that_dkimpy_validates(forwarder):
    herald, elsewhere, nsd, _ = forwarder
    with Submitter(herald, authenticated=False) as client:
        sent = client.send(["away@example.test"], sender="someone@sender.test",
                           subject="forward me")
    [arrived] = elsewhere.wait_for_messages(1, timeout=seconds(30))
    assert arrived.data.startswith(b"ARC-Seal: "), arrived.data[:300]
    seal = newest_seal(arrived.data)
    assert (seal[b"i"], seal[b"cv"], seal[b"d"], seal[b"s"]) == (
        b"1", b"none", b"example.test", ARC_SELECTOR.encode()), seal
    cv, results, comment = dkim.arc_verify(arrived.data, dnsfunc=txt_from(nsd))
    assert cv == b"pass", (cv, results, comment)
    aar = [line for line in arrived.data.split(b"\r\n") if line.startswith(b"ARC-Authentication")]
    assert aar and b"mx.example.test; spf=" in aar[0], aar
    [(_, _, auth)] = herald.trace(sent.message_id).events_of("auth")
    assert auth["arc_sealed"] == "yes", auth


def test_a_list_sealed_message_gets_a_second_seal_and_the_chain_passes(forwarder):
    herald, elsewhere, nsd, list_key = forwarder
    original = (b"Authentication-Results: lists.test; spf=pass smtp.mailfrom=lists.test\r\n"
                b"From: member@lists.test\r\nTo: list@lists.test\r\nSubject: [list] hello\r\n"
                b"\r\nA message the list sealed.\r\n")
    sealed = subprocess.run(["arcsign", "list", "lists.test", str(list_key), "lists.test"],
                            input=original, capture_output=True, check=True,
                            timeout=seconds(60)).stdout
    message_id = forward(herald, sealed)
    [arrived] = elsewhere.wait_for_messages(1, timeout=seconds(30))
    seal = newest_seal(arrived.data)
    assert (seal[b"i"], seal[b"cv"], seal[b"d"]) == (b"2", b"pass", b"example.test"), seal
    cv, results, comment = dkim.arc_verify(arrived.data, dnsfunc=txt_from(nsd))
    assert cv == b"pass", (cv, results, comment)
    assert [r["instance"] for r in results] == [2, 1], results
    [(_, _, auth)] = herald.trace(message_id).events_of("auth")
    assert auth["arc"] == "pass i=1 d=lists.test" and auth["arc_sealed"] == "yes", auth


@pytest.mark.parametrize("problem", ["missing", "not a key"])
def test_heraldd_refuses_to_start_with_an_unusable_arc_key(tmp_path, problem):
    key_file = tmp_path / "arc.pem"
    if problem == "not a key":
        key_file.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    daemon = HeraldDaemon(tmp_path, dns_servers=["127.0.0.1:9"],
                          arc={"domain": "example.test", "selector": "arc1", "key": str(key_file)})
    result = subprocess.run([str(BIN_DIR / "heraldd"), "--config", str(daemon.config)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=seconds(60))
    assert result.returncode == 2, (result.returncode, result.stderr)
    [line] = [l for l in result.stderr.splitlines() if "[arc]" in l]
    assert "critical" in line and "domain=example.test selector=arc1" in line, line
