"""Sender verification end to end: heraldd asks a real nsd (on loopback) for the SPF, DKIM and
DMARC records of the test domains; messages come in with swaks from allowed and forged
sources on port 25, signed by python3-dkim's own tools (dknewkey makes the keys, dkimsign
signs, RSA and Ed25519), and the mailbox copy, the SMTP replies and the ledger show what
herald concluded:

  good.test     SPF allows 127.0.0.0/8; DMARC p=reject; DKIM keys "rsa" and "ed"
  strict.test   SPF allows only 192.0.2.1 (-all); DMARC p=reject
  careful.test  SPF allows only 192.0.2.1 (-all); DMARC p=quarantine
  lists.test    a mailing list that ARC-seals with dkimpy's arcsign (key "rsa"); no DMARC
"""

import re
import subprocess

import pytest

from bounded_wait import seconds
from dns_zone import Zone
from herald_daemon import HOSTNAME, QUEUED_AS
from maildir_reader import StoredMessage

SPF_ONLY_ELSEWHERE = "v=spf1 ip4:192.0.2.1 -all"


def dkim_keys(directory):
    """dknewkey's RSA and Ed25519 pairs: {selector: (private key file, TXT record)}."""
    keys = {}
    for selector, key_type in (("rsa", "rsa"), ("ed", "ed25519")):
        subprocess.run(["dknewkey", "--ktype", key_type, selector], cwd=directory, check=True,
                       capture_output=True, timeout=seconds(60))
        keys[selector] = (directory / f"{selector}.key", (directory / f"{selector}.dns").read_text())
    return keys


def zones(keys):
    good = (Zone("good.test").txt("@", "v=spf1 ip4:127.0.0.0/8 -all")
            .txt("_dmarc", "v=DMARC1; p=reject"))
    for selector, (_, record) in keys.items():
        good.txt(f"{selector}._domainkey", record.strip())
    strict = Zone("strict.test").txt("@", SPF_ONLY_ELSEWHERE).txt("_dmarc", "v=DMARC1; p=reject")
    careful = (Zone("careful.test").txt("@", SPF_ONLY_ELSEWHERE)
               .txt("_dmarc", "v=DMARC1; p=quarantine"))
    lists = Zone("lists.test").txt("rsa._domainkey", keys["rsa"][1].strip())
    return [good, strict, careful, lists]


@pytest.fixture
def world(start_nsd, tmp_path):
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    keys = dkim_keys(keys_dir)
    return keys, start_nsd(zones(keys))


@pytest.fixture
def verifying_herald(start_herald, world):
    _, nsd = world
    return start_herald(dns_servers=[nsd.address])


def message(sender, subject, extra_headers=""):
    return (f"From: {sender}\r\nTo: alice@example.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@test>\r\n{extra_headers}\r\n"
            f"Hello from {sender}.\r\n").encode()


def dkimsign(keys, selector, domain, data, algorithm):
    key_file, _ = keys[selector]
    result = subprocess.run(["dkimsign", "--signalg", algorithm, selector, domain, str(key_file)],
                            input=data, capture_output=True, check=True, timeout=seconds(60))
    return result.stdout


def send(swaks, herald, tmp_path, mail_from, data, expect_success=True):
    """swaks sends `data` as the whole DATA; returns its transcript."""
    path = tmp_path / "message.eml"
    path.write_bytes(data)
    return swaks(herald, "--from", mail_from, "--to", "alice@example.test", "--helo",
                 "client.test", "--data", f"@{path}", expect_success=expect_success)


def delivered(herald, transcript):
    """The queued message's id and its copy in alice's Maildir."""
    match = QUEUED_AS.search(transcript)
    assert match, transcript
    paths = herald.wait_for_messages("alice@example.test", 1)
    return match.group(1), StoredMessage(paths[-1])


def without_comments(results):
    """The resinfo parts of an Authentication-Results value, comments removed."""
    return [" ".join(re.sub(r"\([^)]*\)", "", part).split()) for part in results.split(";")]


def own_results(stored):
    """The Authentication-Results fields naming this server, unfolded."""
    return [" ".join(v.split()) for v in stored.all("Authentication-Results")
            if v.strip().startswith(HOSTNAME + ";")]


def test_allowed_sender_with_rsa_and_ed25519_signatures_passes_everything(
        verifying_herald, world, swaks, tmp_path):
    keys, _ = world
    data = message("news@good.test", "all good")
    data = dkimsign(keys, "rsa", "good.test", data, "rsa-sha256")
    data = dkimsign(keys, "ed", "good.test", data, "ed25519-sha256")
    transcript = send(swaks, verifying_herald, tmp_path, "news@good.test", data)
    message_id, stored = delivered(verifying_herald, transcript)

    [results] = own_results(stored)
    assert "spf=pass" in results and "smtp.mailfrom=news@good.test" in results, results
    parts = without_comments(results)
    assert "dkim=pass header.d=good.test header.s=rsa header.a=rsa-sha256" in parts, results
    assert "dkim=pass header.d=good.test header.s=ed header.a=ed25519-sha256" in parts, results
    assert "dmarc=pass (p=reject dis=none) header.from=good.test" in results, results
    # The newest trace first: our results sit above our Received field.
    names = stored.names()
    assert names.index("Authentication-Results") < names.index("Received"), names

    [(_, _, auth)] = verifying_herald.trace(message_id).events_of("auth")
    assert auth["spf"] == "pass smtp.mailfrom=news@good.test", auth
    assert auth["dmarc"].startswith("pass from=good.test"), auth
    assert auth["sender_verified"] == "yes", auth


def test_signatures_past_max_signatures_get_one_policy_result(
        start_herald, world, swaks, tmp_path):
    # Seven signatures, alternately RSA and Ed25519; the cap of 5 checks the topmost five (the
    # last ones added) on the verification pool and sums up the other two in one result.
    keys, nsd = world
    herald = start_herald(dns_servers=[nsd.address], limits={"verify_threads": 2},
                          policy={"max_signatures": 5})
    data = message("news@good.test", "many signatures")
    for i in range(7):
        selector, algorithm = ("rsa", "rsa-sha256") if i % 2 == 0 else ("ed", "ed25519-sha256")
        data = dkimsign(keys, selector, "good.test", data, algorithm)
    transcript = send(swaks, herald, tmp_path, "news@good.test", data)
    _, stored = delivered(herald, transcript)

    [results] = own_results(stored)
    parts = without_comments(results)
    assert sum(part.startswith("dkim=pass header.d=good.test") for part in parts) == 5, results
    assert [part for part in parts if part.startswith("dkim=policy")] == ["dkim=policy"], results
    assert "dkim=policy (too many signatures, 2 not checked)" in results, results
    assert "dmarc=pass (p=reject dis=none) header.from=good.test" in results, results


def test_forged_from_under_p_reject_is_refused_at_end_of_data(
        verifying_herald, swaks, tmp_path):
    data = message("ceo@strict.test", "urgent wire transfer")
    transcript = send(swaks, verifying_herald, tmp_path, "bounce@elsewhere.test", data,
                      expect_success=False)
    assert "<-  250 2.1.0" in transcript, transcript  # MAIL FROM: SPF none, accepted
    assert "<** 550 5.7.1 Message refused: DMARC policy of strict.test (p=reject)" in transcript, \
        transcript
    assert verifying_herald.new_messages("alice@example.test") == []
    assert "refused from=<bounce@elsewhere.test>" in verifying_herald.log_text()


def test_spf_fail_is_recorded_and_dmarc_decides_by_default(verifying_herald, swaks, tmp_path):
    # MAIL FROM strict.test from 127.0.0.1: SPF fail; From strict.test: DMARC fail → 550.
    data = message("ceo@strict.test", "spf fail")
    transcript = send(swaks, verifying_herald, tmp_path, "ceo@strict.test", data,
                      expect_success=False)
    assert "<-  250 2.1.0" in transcript, transcript
    assert "<** 550 5.7.1" in transcript, transcript


def test_spf_fail_refused_at_mail_from_when_configured(start_herald, world, swaks, tmp_path):
    _, nsd = world
    herald = start_herald(dns_servers=[nsd.address], policy={"spf_fail": "reject"})
    transcript = send(swaks, herald, tmp_path, "ceo@strict.test",
                      message("ceo@strict.test", "spf reject"), expect_success=False)
    assert "<** 550 5.7.23 SPF check failed for strict.test" in transcript, transcript
    assert " -> RCPT TO" not in transcript, transcript  # the transaction ended at MAIL
    assert herald.new_messages("alice@example.test") == []


def test_p_quarantine_delivers_with_a_mark_and_a_ledger_event(verifying_herald, swaks, tmp_path):
    data = message("billing@careful.test", "invoice")
    transcript = send(swaks, verifying_herald, tmp_path, "billing@careful.test", data)
    message_id, stored = delivered(verifying_herald, transcript)
    assert "DMARC policy of careful.test (p=quarantine)" in stored.first("X-Herald-Quarantine")
    [results] = own_results(stored)
    assert "spf=fail" in results and "dmarc=fail (p=quarantine dis=quarantine)" in results, results
    trace = verifying_herald.trace(message_id)
    [(_, _, quarantined)] = trace.events_of("quarantined")
    assert "careful.test" in quarantined["reason"], trace.text
    [(_, _, auth)] = trace.events_of("auth")
    assert "sender_verified" not in auth, auth


def test_p_reject_can_be_turned_into_quarantine(start_herald, world, swaks, tmp_path):
    _, nsd = world
    herald = start_herald(dns_servers=[nsd.address], policy={"dmarc_reject": "quarantine"})
    transcript = send(swaks, herald, tmp_path, "bounce@elsewhere.test",
                      message("ceo@strict.test", "now quarantined"))
    message_id, stored = delivered(herald, transcript)
    assert "strict.test (p=reject)" in stored.first("X-Herald-Quarantine")
    assert herald.trace(message_id).events_of("quarantined")


def test_forged_results_in_our_name_are_removed_and_others_kept(
        verifying_herald, world, swaks, tmp_path):
    keys, _ = world
    forged = (f"Authentication-Results: {HOSTNAME}; dkim=pass header.d=bank.test\r\n"
              "Authentication-Results: other.test; spf=pass smtp.mailfrom=x@other.test\r\n")
    data = message("news@good.test", "forged results", forged)
    transcript = send(swaks, verifying_herald, tmp_path, "news@good.test", data)
    _, stored = delivered(verifying_herald, transcript)
    [results] = own_results(stored)
    assert "bank.test" not in results, results
    assert any(v.strip().startswith("other.test;") for v in stored.all("Authentication-Results"))


def test_tampered_signature_fails_but_aligned_spf_still_passes_dmarc(
        verifying_herald, world, swaks, tmp_path):
    keys, _ = world
    signed = dkimsign(keys, "rsa", "good.test", message("news@good.test", "tampered"),
                      "rsa-sha256")
    tampered = signed.replace(b"Hello from", b"Hallo from")
    transcript = send(swaks, verifying_herald, tmp_path, "news@good.test", tampered)
    _, stored = delivered(verifying_herald, transcript)
    [results] = own_results(stored)
    assert "dkim=fail" in results and "header.d=good.test" in results, results
    assert "spf=pass" in results and "dmarc=pass" in results, results


def arcsign(keys, data):
    """lists.test seals `data` as dkimpy's arcsign does, from its own results."""
    key_file, _ = keys["rsa"]
    data = b"Authentication-Results: lists.test; spf=pass smtp.mailfrom=good.test\r\n" + data
    result = subprocess.run(["arcsign", "rsa", "lists.test", str(key_file), "lists.test"],
                            input=data, capture_output=True, check=True, timeout=seconds(60))
    assert result.stdout.startswith(b"ARC-Seal: i=1;"), result.stdout[:200]
    return result.stdout


def test_arc_chain_sealed_by_dkimpy_passes_and_a_change_after_the_seal_fails(
        verifying_herald, world, swaks, tmp_path):
    keys, _ = world
    sealed = arcsign(keys, message("member@lists.test", "sealed by the list"))
    transcript = send(swaks, verifying_herald, tmp_path, "list-bounces@lists.test", sealed)
    message_id, stored = delivered(verifying_herald, transcript)
    [results] = own_results(stored)
    assert "arc=pass (i=1 d=lists.test)" in results, results
    [(_, _, auth)] = verifying_herald.trace(message_id).events_of("auth")
    assert auth["arc"] == "pass i=1 d=lists.test", auth

    changed = sealed.replace(b"Hello from", b"Hullo from")
    transcript = send(swaks, verifying_herald, tmp_path, "list-bounces@lists.test", changed)
    match = QUEUED_AS.search(transcript)
    assert match, transcript
    [(_, _, auth)] = verifying_herald.wait_for_event(match.group(1), "auth")
    assert auth["arc"].startswith("fail"), auth


def test_submission_gets_auth_results_and_no_sender_checks(start_herald, world, alice_hash):
    from relay_support import submit
    _, nsd = world
    herald = start_herald(dns_servers=[nsd.address], submission=True,
                          password_hashes={"alice@example.test": alice_hash})
    sent = submit(herald, ["bob@example.test"], subject="from alice")
    [path] = herald.wait_for_messages("bob@example.test", 1)
    [results] = own_results(StoredMessage(path))
    assert results == f"{HOSTNAME}; auth=pass smtp.auth=alice@example.test", results
    assert herald.trace(sent.message_id).events_of("auth") == []
