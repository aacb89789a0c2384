"""Nothing acknowledged is ever lost, and nothing is delivered twice, when heraldd is killed
with SIGKILL at random moments under load (DESIGN.md promise 1).

Sixteen clients send messages, each carrying a unique token in a header and in its body and
each sent exactly once, while the daemon is killed and restarted on the same data_dir
several times. A client whose connection breaks records the token as unacknowledged and
moves on to its next message. After a last restart and the end of all deliveries:
every acknowledged token is in exactly one Maildir file, every unacknowledged one in at most
one, every file holds exactly the bytes sent for its token, and tmp/ is empty.
"""

import hashlib
import random
import smtplib
import threading
import time

import pytest

from bounded_wait import SCALE, seconds
from herald_daemon import QUEUED_AS
from maildir_reader import StoredMessage

CLIENTS = 16
MIN_MESSAGES = 3000      # the clients go on past this until every kill has happened,
TAIL_MESSAGES = 300      # and then this many more, served by the last restarted daemon
MAX_MESSAGES = 100000    # a safety cap only
KILLS = 6
KILL_INTERVAL = (0.3, 2.0)
RECIPIENT = "alice@example.test"

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(SCALE > 1, reason="the crash test runs on the release build only"),
]


def body_for(token):
    """A body of 1 to 40 lines derived from the token, so any truncation shows."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    lines = [f"token {token}"]
    lines += [f"{i:03d} {digest}" for i in range(1 + int(digest[:2], 16) % 40)]
    return "".join(line + "\r\n" for line in lines).encode()


def message_for(token):
    head = (f"From: <load@remote.test>\r\nTo: <{RECIPIENT}>\r\nSubject: crash load {token}\r\n"
            f"X-Crash-Token: {token}\r\n\r\n")
    return head.encode() + body_for(token)


class Ledger:
    """What the clients saw: acknowledged tokens (with the queue id), unacknowledged ones."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next_number = 0
        self.acknowledged = {}
        self.unacknowledged = set()

    def take_token(self, keep_going):
        with self.lock:
            if self.next_number >= MAX_MESSAGES or not keep_going(self.next_number):
                return None
            self.next_number += 1
            return f"T{self.next_number:06d}"


def connect(port, deadline):
    """A greeted connection; while the daemon is down, retries until `deadline`."""
    while time.monotonic() < deadline:
        try:
            client = smtplib.SMTP("127.0.0.1", port, timeout=seconds(10))
            client.ehlo("crash-client.remote.test")
            return client
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)
    return None


def send_once(client, token):
    """One transaction; returns the queue id on a 250 to end of data, None otherwise."""
    code, _ = client.mail("load@remote.test")
    if code != 250:
        return None
    code, _ = client.rcpt(RECIPIENT)
    if code != 250:
        return None
    code, reply = client.data(message_for(token))
    match = QUEUED_AS.match(f"{code} {reply.decode(errors='replace')}")
    return match.group(1) if code == 250 and match else None


def client_loop(port, ledger, keep_going, deadline):
    client = None
    while time.monotonic() < deadline:
        client = client or connect(port, deadline)
        if client is None:
            return
        token = ledger.take_token(keep_going)
        if token is None:
            break
        try:
            queue_id = send_once(client, token)
        except (OSError, smtplib.SMTPException):
            queue_id = None
        if queue_id is None:
            # Broken or refused: start the next message on a fresh connection.
            client.close()
            client = None
        with ledger.lock:
            if queue_id:
                ledger.acknowledged[token] = queue_id
            else:
                ledger.unacknowledged.add(token)
    if client is not None:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            pass


def read_mailbox(herald):
    """token -> list of StoredMessage found in new/."""
    found = {}
    for path in herald.new_messages(RECIPIENT):
        stored = StoredMessage(path)
        tokens = stored.all("X-Crash-Token") or [f"no token in {path.name}"]
        found.setdefault(tokens[0], []).append(stored)
    return found


def test_sigkill_under_load_loses_no_acknowledged_message_and_duplicates_none(start_herald):
    herald = start_herald(limits={"max_connections_per_ip": 200})
    ledger = Ledger()
    stop_after = []  # set when the kills are over: how many messages the clients send in all
    deadline = time.monotonic() + 150

    def keep_going(sent):
        return not stop_after or sent < max(MIN_MESSAGES, stop_after[0])

    clients = [threading.Thread(target=client_loop, args=(herald.port, ledger, keep_going,
                                                          deadline), daemon=True)
               for _ in range(CLIENTS)]
    for thread in clients:
        thread.start()

    rng = random.Random()
    killed_at = []  # messages taken when each kill came: proof the load was running
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(*KILL_INTERVAL))
            killed_at.append(ledger.next_number)
            herald.kill()
            herald.start()
    finally:
        with ledger.lock:
            stop_after.append(ledger.next_number + TAIL_MESSAGES)
        for thread in clients:
            thread.join(max(1.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in clients), "clients still running at the deadline"

    herald.wait_for_empty_queue(timeout=120)
    found = read_mailbox(herald)
    maildir = herald.maildir(RECIPIENT)
    sent = len(ledger.acknowledged) + len(ledger.unacknowledged)
    acknowledged_lost = [t for t in ledger.acknowledged if t not in found]
    duplicated = {t: len(files) for t, files in found.items() if len(files) > 1}
    strangers = [t for t in found if t not in ledger.acknowledged
                 and t not in ledger.unacknowledged]
    damaged = [files[0].path.name for t, files in found.items()
               if files[0].body != body_for(t).replace(b"\r\n", b"\n")]
    present_unacknowledged = sum(1 for t in ledger.unacknowledged if t in found)
    print(f"\ncrash test: sent {sent}, acknowledged {len(ledger.acknowledged)}, "
          f"unacknowledged-but-present {present_unacknowledged}, "
          f"unacknowledged-absent {len(ledger.unacknowledged) - present_unacknowledged}, "
          f"duplicates {len(duplicated)}, damaged {len(damaged)}, kills {len(killed_at)} "
          f"(after message {', '.join(map(str, killed_at))})")

    assert len(killed_at) == KILLS
    assert MIN_MESSAGES <= sent < MAX_MESSAGES and killed_at[-1] < sent
    assert not acknowledged_lost, f"acknowledged but not delivered: {acknowledged_lost[:20]}"
    assert not duplicated, f"delivered more than once: {dict(list(duplicated.items())[:20])}"
    assert not strangers, f"tokens nobody sent: {strangers[:20]}"
    assert not damaged, f"files whose body is not what was sent: {damaged[:20]}"
    assert list((maildir / "tmp").iterdir()) == [], "half-written files left in tmp/"
    delivered_ids = set(herald.queue_list("--all", "--state", "delivered"))
    missing_ids = [i for i in ledger.acknowledged.values() if i not in delivered_ids]
    assert not missing_ids, f"acknowledged ids not delivered in the ledger: {missing_ids[:20]}"
