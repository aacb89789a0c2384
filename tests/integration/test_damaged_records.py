"""An undecodable record (issue 8: "one undecodable record makes heraldd exit before any
listener opens"): written with RocksDB's own ldb into the store of a stopped heraldd, it is
moved aside at the next start, which carries on; `herald queue list --damaged` names it, and
the queue goes on with the other messages."""

import shutil
import smtplib
import subprocess

import pytest

from bounded_wait import seconds, wait_until
from loopback_ports import free_port
from relay_support import OUTBOUND, QUEUE

pytestmark = pytest.mark.skipif(shutil.which("ldb") is None,
                                reason="ldb (Debian's rocksdb-tools) is not installed")


def send(daemon, recipient):
    with smtplib.SMTP("127.0.0.1", daemon.port, timeout=seconds(30)) as client:
        client.sendmail("sender@example.org", [recipient],
                        f"From: <sender@example.org>\r\nSubject: for {recipient}\r\n\r\nhi\r\n")


def test_an_undecodable_delivery_is_set_aside_and_the_queue_goes_on(start_herald):
    # Relayed to a port where nothing listens: the delivery stays deferred in the store.
    closed = f"127.0.0.1:{free_port()}"
    herald = start_herald(queue=QUEUE, outbound=OUTBOUND, trusted_networks=["127.0.0.0/8"],
                          routes=[{"domain": "down.test", "to": closed}])
    send(herald, "someone@down.test")
    [message_id] = wait_until(lambda: herald.queue_list() or None, seconds(20),
                              "the relayed message to be queued")
    herald.wait_for_event(message_id, "deferred")
    herald.stop()

    store = herald.data_dir / "store"
    subprocess.run(["ldb", f"--db={store}", "--column_family=deliveries", "put",
                    f"{message_id}/0000000000", "{not a delivery"],
                   check=True, capture_output=True, timeout=seconds(60))

    herald.start()
    send(herald, "alice@example.test")  # listeners are open and mail is taken in

    def damaged():
        out = herald.cli("queue", "list", "--damaged").stdout
        return out if f"{message_id}/0000000000" in out else None
    listing = wait_until(damaged, seconds(30), "the damaged delivery to be listed")
    assert "deliveries" in listing, listing
    assert f"{message_id}/0000000000" in herald.log_text()
    assert message_id not in herald.queue_list(), "no longer in the queue"
    wait_until(lambda: not herald.queue_list() or None, seconds(30),
               "alice's message to be delivered")
