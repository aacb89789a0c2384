"""What the queue-restart benchmark asks a server that has just been restarted: when it first
takes a new message, and how long its queue tools take to show a few messages."""

import re
import smtplib
import subprocess
import threading
import time

# A message of the size herald_queue_fill commits (~600 octets with its Received field).
FILLER_BODY = ("This message waits in the queue for a destination that is down. "
               "0123456789\r\n") * 6


def filler_message(recipient, sender="src@bench.test", subject="queue-restart benchmark"):
    return (f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{time.time_ns()}@bench.test>\r\n\r\n{FILLER_BODY}")


def send_one(port, recipient, timeout=30):
    """One message to 127.0.0.1:port; raises (OSError, smtplib.SMTPException) unless the
    server answered 250 at the end of data."""
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as client:
        client.ehlo("bench-client.test")
        client.sendmail("src@bench.test", [recipient], filler_message(recipient))


def first_accept(port, recipient, started, running, timeout):
    """Tries to send one message every 20 ms until one gets `250` after its data.

    `started`: time.monotonic() of the exec; `running()` is false once the server died.
    Returns (seconds from `started` to the first 220 greeting, to the first 250), each None
    if it did not happen within `timeout` seconds of `started` (or before the server died),
    and the last refusal or error seen once the server had greeted (None if there was
    none): a server that greets but answers 4xx while it loads its queue shows here."""
    greeted = accepted = None
    last_error = None
    deadline = started + timeout
    while time.monotonic() < deadline and running():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                if greeted is None:
                    greeted = time.monotonic() - started
                client.ehlo("bench-client.test")
                client.sendmail("src@bench.test", [recipient], filler_message(recipient))
                accepted = time.monotonic() - started
                return greeted, accepted, last_error
        except (OSError, smtplib.SMTPException) as error:
            if greeted is not None:
                last_error = f"{type(error).__name__}: {error}"
        time.sleep(0.02)
    return greeted, accepted, last_error or ("server exited" if not running() else "no greeting")


def timed_listing(command, entry, wanted, timeout):
    """Runs `command` and reads its output until `wanted` lines match the regular
    expression `entry` (group 1: the message's ID) or it ends, like `command | head`.

    Returns (seconds until then, the IDs seen, the exit code or None when we closed the pipe
    first). The command is killed, by its PID, after `timeout` seconds."""
    pattern = re.compile(entry)
    start = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    ids = []
    try:
        for line in process.stdout:
            match = pattern.match(line.decode("utf-8", "replace"))
            if match:
                ids.append(match.group(1))
                if len(ids) == wanted:
                    break
        elapsed = time.monotonic() - start
        closed_early = len(ids) == wanted
    finally:
        process.stdout.close()  # a writer still going gets EPIPE/SIGPIPE, as under `head`
        try:
            code = process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait(10)
        watchdog.cancel()
    return elapsed, ids, None if closed_early and code != 0 else code


def timed_run(command, timeout):
    """(wall seconds, exit code) of `command`, its output discarded; killed after `timeout`."""
    start = time.monotonic()
    try:
        code = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        code = "killed after timeout"
    return time.monotonic() - start, code
