"""Checks, before a relay benchmark loads a server, that it takes mail for a relay domain at
all, and shows the tail of its log when it does not start."""

import smtplib


def relay_refusal(port, recipient):
    """None if the server on 127.0.0.1:port takes RCPT TO:<recipient> from us; else what it
    said (herald before outbound relay existed answered 554 or 451)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo("bench-client.test")
            code, reply = client.mail("src@bench.test")
            if code == 250:
                code, reply = client.rcpt(recipient)
            client.rset()
            return None if code == 250 else f"{code} {reply.decode(errors='replace')}"
    except (OSError, smtplib.SMTPException) as error:
        return f"probe failed: {error}"


def log_tail(path, lines=5):
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no {path})"
