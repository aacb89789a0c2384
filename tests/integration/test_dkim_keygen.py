"""`herald dkim keygen`: the private key file it writes and the TXT record it prints work
together, as checked by Debian's python3-dkim (dkimpy) signing and verifying with them."""

import re
import stat
import subprocess

import dkim

from herald_daemon import BIN_DIR

MESSAGE = (b"From: alice@example.test\r\nTo: bob@example.test\r\nSubject: keygen\r\n"
           b"\r\nhello\r\n")


def keygen(*arguments):
    return subprocess.run([str(BIN_DIR / "herald"), "dkim", "keygen", *arguments],
                          capture_output=True, text=True, timeout=60)


def record_of(zone_line):
    """The TXT record text of `NAME IN TXT "…" "…"`, its strings joined (RFC 6376 3.6.2.2)."""
    return "".join(re.findall(r'"([^"]*)"', zone_line))


def test_rsa_key_signs_mail_that_verifies_against_the_printed_record(tmp_path):
    key_file = tmp_path / "s1.pem"
    result = keygen("Example.test", "s1", "--key-out", str(key_file))
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith('s1._domainkey.example.test IN TXT "v=DKIM1; k=rsa; p=')
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    signed = dkim.sign(MESSAGE, b"s1", b"example.test", key_file.read_bytes()) + MESSAGE
    record = record_of(line).encode()
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)


def test_ed25519_key_record_holds_the_bare_32_byte_key(tmp_path):
    key_file = tmp_path / "ed.pem"
    result = keygen("example.test", "ed", "--algorithm", "ed25519", "--key-out", str(key_file))
    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r'ed\._domainkey\.example\.test IN TXT '
                         r'"v=DKIM1; k=ed25519; p=([A-Za-z0-9+/]{43}=)"', result.stdout.strip())
    assert match, result.stdout
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_an_existing_key_file_is_never_overwritten(tmp_path):
    key_file = tmp_path / "taken.pem"
    key_file.write_text("published key\n")
    result = keygen("example.test", "s1", "--key-out", str(key_file))
    assert result.returncode == 1
    assert "never overwritten" in result.stderr
    assert key_file.read_text() == "published key\n"
