"""What a postmaster does to the queue with the herald CLI against a running heraldd:
`queue show` and `queue list` filters read the store; `queue retry | hold | release | bounce`
go through the daemon's control socket; `trace` shows each attempt's reply.

A delivery that keeps failing is made by putting a plain file where the recipient's mailbox
directory belongs (the tests run as root, so taking away permissions would not stop heraldd):
the Maildir transport then defers with "4.3.0 mailbox directory not usable". Removing the
file lets the next attempt deliver. The retry backoff is an hour, so nothing but the
operator's command brings that next attempt within a test's time.
"""

import os
import re

from herald_daemon import QUEUED_AS

AN_HOUR_OF_BACKOFF = {"retry_backoff": ["1h"]}
UNKNOWN_ID = "01KAX3V6W4S6Y5C3A7RZ2B9JQH"


def queued_id(transcript):
    match = QUEUED_AS.search(transcript)
    assert match, f"no '250 2.0.0 queued as ID' in:\n{transcript}"
    return match.group(1)


def send_to_alice(herald, swaks):
    return queued_id(swaks(herald, "--from", "sender@remote.test", "--to", "alice@example.test",
                           "--header", "Subject: queue operations"))


def block_mailbox(herald, address):
    """A plain file where the user's directory (the Maildir's parent) would be."""
    user_dir = herald.maildir(address).parent
    user_dir.parent.mkdir(parents=True, exist_ok=True)
    # The domain's directory is heraldd's, as if it had made it: once the file is gone, heraldd
    # (started as root, it runs as herald) makes the user's directory there.
    mail_root = (herald.data_dir / "mail").stat()
    os.chown(user_dir.parent, mail_root.st_uid, mail_root.st_gid)
    user_dir.write_text("in the way\n")
    return user_dir


def deferred_message(herald, swaks):
    """A message to alice whose delivery failed once and waits an hour for its retry."""
    blocker = block_mailbox(herald, "alice@example.test")
    message_id = send_to_alice(herald, swaks)
    herald.wait_for_event(message_id, "deferred")
    return message_id, blocker


def show(herald, message_id):
    """`queue show`: the header lines by name, and each delivery block as a dict."""
    text = herald.cli("queue", "show", message_id).stdout
    blocks = text.split("\n\n")
    header = dict(line.split(None, 1) for line in blocks[0].splitlines())
    deliveries = []
    for block in blocks[1:]:
        lines = block.strip("\n").splitlines()
        assert lines[0].startswith("delivery "), text
        deliveries.append(dict(line.strip().split(None, 1) for line in lines[1:]))
    return header, deliveries


def control(herald, *args):
    """Runs a mutating command; returns (exit code, stdout, stderr)."""
    result = herald.cli("queue", *args, check=False)
    return result.returncode, result.stdout, result.stderr


# --- reading the store -------------------------------------------------------------------


def test_queue_show_of_a_delivered_message_shows_envelope_qos_and_delivery(herald, swaks):
    message_id = send_to_alice(herald, swaks)
    herald.wait_for_event(message_id, "delivered")

    header, [delivery] = show(herald, message_id)
    assert header["message"] == message_id
    assert header["from"] == "<sender@remote.test>"
    assert header["to"] == "<alice@example.test>"
    assert header["peer"].startswith("127.0.0.1:")
    assert header["qos"] == "priority=0"
    assert delivery["recipient"] == "alice@example.test"
    assert delivery["mailbox"] == "alice@example.test"
    assert delivery["transport"] == "local"
    assert delivery["state"] == "delivered"
    assert delivery["held"] == "no"
    assert delivery["attempts"] == "1"
    assert "next_attempt" not in delivery  # a final delivery has none
    assert delivery["last_reply"] == "2.0.0 delivered to Maildir"


def test_queue_show_of_an_unknown_or_malformed_id(herald):
    result = herald.cli("queue", "show", UNKNOWN_ID, check=False)
    assert result.returncode == 1
    assert f"no message {UNKNOWN_ID}" in result.stderr
    result = herald.cli("queue", "show", "not-an-id", check=False)
    assert result.returncode == 2
    assert "is not a message id" in result.stderr


def test_deferred_delivery_shows_its_reply_in_show_trace_and_list(start_herald, swaks):
    herald = start_herald(queue=AN_HOUR_OF_BACKOFF)
    message_id, _ = deferred_message(herald, swaks)

    _, [delivery] = show(herald, message_id)
    assert delivery["state"] == "deferred"
    assert delivery["attempts"] == "1"
    assert delivery["held"] == "no"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", delivery["next_attempt"]), delivery
    assert delivery["last_reply"].startswith("4.3.0 mailbox directory not usable"), delivery

    [(_, recipient, fields)] = herald.trace(message_id).events_of("deferred")
    assert recipient == "alice@example.test"
    assert fields["reply"].startswith("4.3.0 mailbox directory not usable"), fields
    assert fields["attempt"] == "1"
    assert message_id in herald.queue_list("--state", "deferred")


def test_queue_list_filters_by_destination_and_priority(herald, swaks):
    message_id = send_to_alice(herald, swaks)
    herald.wait_for_event(message_id, "delivered")

    assert message_id in herald.queue_list("--all", "--destination", "example.test")
    assert message_id in herald.queue_list("--all", "--destination", "EXAMPLE.test")
    assert message_id not in herald.queue_list("--all", "--destination", "other.test")
    assert message_id in herald.queue_list("--all", "--priority", "0")
    assert message_id in herald.queue_list("--all", "--min-priority", "-9")
    assert message_id not in herald.queue_list("--all", "--min-priority", "1")
    assert message_id not in herald.queue_list("--all", "--priority", "3")

    result = herald.cli("queue", "list", "--priority", "10", check=False)
    assert result.returncode == 2
    result = herald.cli("queue", "list", "--priority", "1", "--min-priority", "1", check=False)
    assert result.returncode == 2


# --- without a daemon --------------------------------------------------------------------


def test_queue_retry_all_without_a_daemon_says_heraldd_is_not_running(herald):
    assert herald.stop() == 0
    code, out, err = control(herald, "retry", "--all")
    assert code == 1, out + err
    socket_path = herald.data_dir / "control.sock"
    assert f"heraldd is not running (no control socket at {socket_path})" in err


def test_queue_hold_after_heraldd_was_killed_says_heraldd_is_not_running(herald):
    herald.kill()
    code, out, err = control(herald, "hold", UNKNOWN_ID)
    assert code == 1, out + err
    assert "heraldd is not running (no control socket at " in err


def test_mutating_commands_check_their_arguments_before_reaching_heraldd(herald):
    for args in (["retry"], ["retry", UNKNOWN_ID, "--all"], ["hold"], ["bounce", "--all"],
                 ["release", "not-an-id"], ["hold", UNKNOWN_ID + "X"]):
        code, out, err = control(herald, *args)
        assert code == 2, f"queue {' '.join(args)}: {code}\n{out}{err}"


# --- changing the queue through the daemon -----------------------------------------------


def test_retry_after_the_cause_is_fixed_delivers_at_once(start_herald, swaks):
    herald = start_herald(queue=AN_HOUR_OF_BACKOFF)
    message_id, blocker = deferred_message(herald, swaks)
    blocker.unlink()

    code, out, err = control(herald, "retry", message_id)
    assert (code, out) == (0, f"retry {message_id}: 1 delivery changed\n"), err
    herald.wait_for_event(message_id, "delivered")
    herald.wait_for_messages("alice@example.test", 1)
    [(_, _, fields)] = herald.trace(message_id).events_of("delivered")
    assert fields["attempt"] == "2"


def test_retry_all_makes_every_waiting_delivery_due(start_herald, swaks):
    herald = start_herald(queue=AN_HOUR_OF_BACKOFF)
    first, blocker = deferred_message(herald, swaks)
    second = send_to_alice(herald, swaks)
    herald.wait_for_event(second, "deferred")
    blocker.unlink()

    code, out, err = control(herald, "retry", "--all")
    assert (code, out) == (0, "retry --all: 2 deliveries changed\n"), err
    for message_id in (first, second):
        herald.wait_for_event(message_id, "delivered")
    herald.wait_for_empty_queue()


def test_held_delivery_is_not_retried_until_released(start_herald, swaks):
    herald = start_herald(queue=AN_HOUR_OF_BACKOFF)
    message_id, blocker = deferred_message(herald, swaks)

    code, out, err = control(herald, "hold", message_id)
    assert (code, out) == (0, f"hold {message_id}: 1 delivery changed\n"), err
    _, [delivery] = show(herald, message_id)
    assert delivery["held"].startswith("yes"), delivery
    list_text = herald.cli("queue", "list").stdout
    assert "alice@example.test:deferred(held)" in list_text, list_text

    blocker.unlink()
    code, out, err = control(herald, "retry", message_id)
    assert (code, out) == (0, f"retry {message_id}: 0 deliveries changed\n"), err
    assert herald.new_messages("alice@example.test") == []

    code, out, err = control(herald, "release", message_id)
    assert (code, out) == (0, f"release {message_id}: 1 delivery changed\n"), err
    herald.wait_for_event(message_id, "delivered")
    _, [delivery] = show(herald, message_id)
    assert (delivery["state"], delivery["held"]) == ("delivered", "no")


def test_hold_survives_a_restart(start_herald, swaks):
    herald = start_herald(queue=AN_HOUR_OF_BACKOFF)
    message_id, blocker = deferred_message(herald, swaks)
    assert control(herald, "hold", message_id)[0] == 0
    blocker.unlink()
    assert herald.stop() == 0
    herald.start()

    _, [delivery] = show(herald, message_id)
    assert (delivery["state"], delivery["held"][:3]) == ("deferred", "yes"), delivery
    assert control(herald, "release", message_id)[0] == 0
    herald.wait_for_event(message_id, "delivered")


def test_bounce_ends_the_delivery_as_bounced_by_the_postmaster(start_herald, swaks):
    herald = start_herald(queue=AN_HOUR_OF_BACKOFF)
    message_id, _ = deferred_message(herald, swaks)

    code, out, err = control(herald, "bounce", message_id)
    assert (code, out) == (0, f"bounce {message_id}: 1 delivery changed\n"), err
    [(_, recipient, fields)] = herald.wait_for_event(message_id, "bounced")
    assert recipient == "alice@example.test"
    assert fields["reply"].startswith("5.0.0"), fields
    assert fields["by"] == "postmaster", fields
    _, [delivery] = show(herald, message_id)
    assert delivery["state"] == "bounced"
    assert message_id not in herald.queue_list()

    # A final delivery is never changed again.
    code, out, err = control(herald, "retry", message_id)
    assert (code, out) == (0, f"retry {message_id}: 0 deliveries changed\n"), err


def test_changing_an_unknown_message_exits_1_and_says_so(herald):
    for verb in ("retry", "hold", "release", "bounce"):
        code, out, err = control(herald, verb, UNKNOWN_ID.lower())
        assert code == 1, f"{verb}: {code}\n{out}{err}"
        assert f"{verb} {UNKNOWN_ID}: no message {UNKNOWN_ID}" in err


def test_control_socket_is_private_and_removed_at_a_clean_stop(herald):
    socket_path = herald.data_dir / "control.sock"
    assert socket_path.is_socket()
    assert socket_path.stat().st_mode & 0o7777 == 0o600
    assert herald.stop() == 0
    assert not socket_path.exists()
