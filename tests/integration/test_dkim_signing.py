"""DKIM signing of outbound mail end to end: heraldd with two [[dkim]] keys for example.test
(RSA and Ed25519, made by `herald dkim keygen`, their TXT records served by the test nsd)
relays alice's submission to an aiosmtpd MX, and Debian's python3-dkim (dkimpy) verifies
each of the two signatures the MX received, on its own, against those records. The
`dkimverify` command verifies them too: it has no option for a DNS server, so it runs with a
sitecustomize module (Python's start-up hook) that points dnspython's default resolver, the
one dkimpy asks, at the test nsd; dkimverify and dkimpy themselves run unchanged.

Also: mail from a trusted-network client is signed for a keyed author domain and sent
unsigned for any other, and heraldd refuses to start when a key file is missing or is not
a key. Not shown end to end, and covered by tests/unit/transport/
dkim_signing_transport_test.cpp instead: that mail forwarded from the Internet goes unsigned,
and that herald's own DSNs are signed
(a DSN goes only to an authenticated sender, whose address is local, so none leaves by SMTP).
"""

import email
import email.policy
import os
import pwd
import signal
import subprocess

import dkim
import dns.resolver
import pytest

from bounded_wait import seconds, wait_until
from dns_zone import Zone
from herald_daemon import BIN_DIR, HeraldDaemon
from relay_support import relay_options, submit
from test_dkim_keygen import keygen, record_of
from test_relay import fate, mx_zone

SELECTORS = {"rsa": "rsa2026", "ed25519": "ed2026"}
ALGORITHMS = {"rsa": b"rsa-sha256", "ed25519": b"ed25519-sha256"}

# Makes dnspython's default resolver (what dkimpy's get_txt uses) ask the test nsd.
SITECUSTOMIZE = """\
import os
import dns.resolver
_resolver = dns.resolver.Resolver(configure=False)
_resolver.nameservers = ["127.0.0.1"]
_resolver.port = int(os.environ["HERALD_TEST_DNS_PORT"])
dns.resolver.default_resolver = _resolver
"""


def make_keys(directory, domain="example.test"):
    """One RSA and one Ed25519 key by `herald dkim keygen`: ([[dkim]] entries, zone with the
    printed TXT records)."""
    entries, zone = [], Zone(domain)
    for algorithm, selector in SELECTORS.items():
        key_file = directory / f"{selector}.pem"
        result = keygen(domain, selector, "--algorithm", algorithm, "--key-out", str(key_file))
        assert result.returncode == 0, result.stderr
        # A SIGHUP reload reads the keys as the user heraldd runs as (herald when started as
        # root), as an operator's root:herald 0640 would let it.
        if os.geteuid() == 0:
            herald = pwd.getpwnam("herald")
            os.chown(key_file, herald.pw_uid, herald.pw_gid)
        zone.txt(f"{selector}._domainkey", record_of(result.stdout))
        entries.append({"domain": domain, "selector": selector, "key": str(key_file)})
    return entries, zone


def txt_from(nsd):
    """A dkimpy dnsfunc asking the test nsd."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = nsd.port

    def get_txt(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        answer = resolver.resolve(name, "TXT", lifetime=timeout)
        return b"".join(b"".join(record.strings) for record in answer)
    return get_txt


def signature_tags(data):
    """The tags of each DKIM-Signature field, in message order, as {name: value} bytes."""
    parsed = email.message_from_bytes(data, policy=email.policy.compat32)
    return [dkim.util.parse_tag_value(value.encode()) for value in
            parsed.get_all("DKIM-Signature", [])]


@pytest.fixture
def relay(start_herald, start_nsd, start_peer, alice_hash, tmp_path):
    """heraldd with both keys of example.test, relaying to the MX of relay.test; also trusts
    127.0.0.0/8 on port 25. Returns (herald, peer, nsd)."""
    entries, key_zone = make_keys(tmp_path)
    peer = start_peer("127.0.0.31", name="mx1.relay.test")
    nsd = start_nsd([mx_zone("relay.test", (10, "127.0.0.31")), key_zone])
    herald = start_herald(**relay_options(alice_hash, nsd, mx_port=peer.port, dkim=entries,
                                          trusted_networks=["127.0.0.0/8"]))
    return herald, peer, nsd


def relayed(herald, peer, count, **submit_options):
    """Submits one message to bob@relay.test and returns the bytes the MX received."""
    sent = submit(herald, ["bob@relay.test"], **submit_options)
    assert fate(herald, sent.message_id, "bob@relay.test")[0] == "delivered"
    arrived = peer.wait_for_messages(count)
    return arrived[count - 1].data


def test_submission_carries_rsa_and_ed25519_signatures_that_dkimpy_verifies(relay):
    herald, peer, nsd = relay
    data = relayed(herald, peer, 1, subject="signed twice")

    tags = signature_tags(data)
    assert sorted(t[b"a"] for t in tags) == sorted(ALGORITHMS.values()), tags
    for t in tags:
        assert t[b"d"] == b"example.test" and t[b"c"] == b"relaxed/relaxed", t
        assert t[b"s"] == SELECTORS["rsa" if t[b"a"] == b"rsa-sha256" else "ed25519"].encode()
    get_txt = txt_from(nsd)
    for index in range(len(tags)):
        verifier = dkim.DKIM(data)
        assert verifier.verify(idx=index, dnsfunc=get_txt), (index, tags[index])
    # The MX's copy altered by one byte fails both: the checks above are not vacuous.
    tampered = data.replace(b"signed twice", b"signed twicE")
    assert not any(dkim.DKIM(tampered).verify(idx=i, dnsfunc=get_txt) for i in range(2))


def test_dkimverify_command_verifies_both_signatures(relay, tmp_path):
    herald, peer, nsd = relay
    data = relayed(herald, peer, 1)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    environment = dict(os.environ, PYTHONPATH=str(site), HERALD_TEST_DNS_PORT=str(nsd.port))
    for index in range(2):
        result = subprocess.run(["/usr/bin/dkimverify", "--index", str(index)], input=data,
                                capture_output=True, env=environment, timeout=seconds(60))
        assert result.returncode == 0 and result.stdout.strip() == b"signature ok", (
            index, result.stdout, result.stderr)


def test_trusted_network_mail_is_signed_only_for_an_author_domain_with_keys(relay):
    herald, peer, nsd = relay
    keyed = relayed(herald, peer, 1, authenticated=False, sender="alice@example.test")
    assert len(signature_tags(keyed)) == 2
    assert all(dkim.DKIM(keyed).verify(idx=i, dnsfunc=txt_from(nsd)) for i in range(2))

    unkeyed = relayed(herald, peer, 2, authenticated=False, sender="app@monitoring.test")
    assert b"From: <app@monitoring.test>" in unkeyed
    assert signature_tags(unkeyed) == []


@pytest.mark.parametrize("problem", ["missing", "not a key"])
def test_heraldd_refuses_to_start_with_an_unusable_key(tmp_path, problem):
    key_file = tmp_path / "s1.pem"
    if problem == "not a key":
        key_file.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    entry = {"domain": "example.test", "selector": "s1", "key": str(key_file)}
    daemon = HeraldDaemon(tmp_path, dkim=[entry])
    result = subprocess.run([str(BIN_DIR / "heraldd"), "--config", str(daemon.config)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=seconds(60))
    assert result.returncode == 2, (result.returncode, result.stderr)
    [line] = [l for l in result.stderr.splitlines() if "[[dkim]]" in l]
    assert "critical" in line and "domain=example.test selector=s1" in line, line
    assert str(key_file) in line, line


def test_keys_added_to_the_file_sign_after_sighup(start_herald, start_nsd, start_peer, alice_hash,
                                                  tmp_path):
    entries, key_zone = make_keys(tmp_path)
    peer = start_peer("127.0.0.31", name="mx1.relay.test")
    nsd = start_nsd([mx_zone("relay.test", (10, "127.0.0.31")), key_zone])
    herald = start_herald(**relay_options(alice_hash, nsd, mx_port=peer.port))
    assert signature_tags(relayed(herald, peer, 1)) == []

    herald.config.write_text(herald.config.read_text() + "".join(
        "\n[[dkim]]\n" + "".join(f'{k} = "{v}"\n' for k, v in entry.items())
        for entry in entries))
    herald.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded " in herald.log_text(), seconds(20), "heraldd to reload")
    assert "reload: [[dkim]] changed; applied to new sessions and attempts" in herald.log_text()

    signed = relayed(herald, peer, 2)
    assert sorted(t[b"a"] for t in signature_tags(signed)) == sorted(ALGORITHMS.values())
    assert all(dkim.DKIM(signed).verify(idx=i, dnsfunc=txt_from(nsd)) for i in range(2))
