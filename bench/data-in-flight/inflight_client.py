"""The data-in-flight benchmark's load: S SMTP sessions on loopback, each sending one message of
B octets, all of them in the middle of DATA at the same moment.

Each session connects, says EHLO, MAIL FROM, RCPT TO, and waits until every session has got
that far; then DATA, and the whole body in 64 KiB writes (each waiting for the socket to
drain), and waits again — before the final dot — until every session has sent its body (or
been refused). At that point all the content is with the server and none of it is finished:
`while_held()` is called (the benchmark samples the server's memory there), then every
session sends its dot and reads the reply, then QUIT.

Bounded: every read and write has a timeout (`STEP_TIMEOUT`), a session that fails is
counted and stops waiting, and it never sends more than its one message.
"""

import asyncio
import time

CHUNK_LINES = 800
LINE = b"x" * 78 + b"\r\n"
CHUNK = LINE * CHUNK_LINES  # 64,000 octets, no line starts with a dot
STEP_TIMEOUT = 300.0


def body_lines(size):
    """The body is `size` octets rounded down to whole 80-octet lines (at least one)."""
    return max(1, size // len(LINE))


class Outcome:
    """What happened to one session: `stage` it reached and the reply that ended it."""

    def __init__(self):
        self.stage = "connect"
        self.data_reply = None  # the reply to DATA (354, or a refusal such as 452)
        self.final_reply = None  # the reply after the dot
        self.error = None
        self.sent_body = 0  # octets of body sent before the dot (after a 354)

    @property
    def accepted(self):
        return self.final_reply is not None and self.final_reply.startswith("250")


class _Gate:
    """Opens once `count` sessions have arrived (or given up)."""

    def __init__(self, count):
        self.waiting = count
        self.opened = asyncio.Event()

    def arrive(self):
        self.waiting -= 1
        if self.waiting <= 0:
            self.opened.set()


async def _reply(reader):
    """One SMTP reply (all lines of a multi-line one); its last line, without CRLF."""
    while True:
        line = await asyncio.wait_for(reader.readline(), STEP_TIMEOUT)
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return line.decode("ascii", "replace").rstrip("\r\n")


async def _command(reader, writer, text):
    writer.write(text.encode("ascii") + b"\r\n")
    await asyncio.wait_for(writer.drain(), STEP_TIMEOUT)
    return await _reply(reader)


async def _session(number, port, size, recipient, ready, sent, release, outcome):
    arrived_ready = arrived_sent = False
    writer = None
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), STEP_TIMEOUT)
        for stage, command, expect in (("greeting", None, "220"),
                                       ("ehlo", "EHLO bench-client.test", "250"),
                                       ("mail", "MAIL FROM:<src@bench.test>", "250"),
                                       ("rcpt", f"RCPT TO:<{recipient}>", "250")):
            outcome.stage = stage
            reply = await (_reply(reader) if command is None
                           else _command(reader, writer, command))
            if not reply.startswith(expect):
                raise ConnectionError(f"{stage}: {reply}")
        ready.arrive()
        arrived_ready = True
        await ready.opened.wait()
        outcome.stage = "data"
        outcome.data_reply = await _command(reader, writer, "DATA")
        if outcome.data_reply.startswith("354"):
            header = (f"From: <src@bench.test>\r\nTo: <{recipient}>\r\n"
                      f"Subject: data-in-flight session {number}\r\n"
                      f"Message-ID: <{time.time_ns()}.{number}@bench.test>\r\n\r\n")
            writer.write(header.encode("ascii"))
            chunks, rest = divmod(body_lines(size), CHUNK_LINES)
            for piece in [CHUNK] * chunks + ([LINE * rest] if rest else []):
                writer.write(piece)
                await asyncio.wait_for(writer.drain(), STEP_TIMEOUT)
                outcome.sent_body += len(piece)
            outcome.stage = "held"
        sent.arrive()
        arrived_sent = True
        await release.wait()
        if outcome.data_reply.startswith("354"):
            outcome.stage = "end of data"
            writer.write(b".\r\n")
            await asyncio.wait_for(writer.drain(), STEP_TIMEOUT)
            outcome.final_reply = await _reply(reader)
        outcome.stage = "quit"
        await _command(reader, writer, "QUIT")
        outcome.stage = "done"
    except (OSError, asyncio.TimeoutError) as error:
        outcome.error = f"{type(error).__name__}: {error}"
    finally:
        if not arrived_ready:
            ready.arrive()
        if not arrived_sent:
            sent.arrive()
        if writer is not None:
            writer.close()


async def run(port, sessions, size, recipient, while_held):
    """Runs the load against 127.0.0.1:port; `while_held()` (a plain function, run in a
    thread) is called once every session has sent its body and before any sends its dot.
    Returns ([Outcome] per session, seconds the bodies took to send, seconds from the
    release of the dots until the last reply)."""
    ready, sent = _Gate(sessions), _Gate(sessions)
    release = asyncio.Event()
    outcomes = [Outcome() for _ in range(sessions)]
    tasks = [asyncio.create_task(_session(n, port, size, recipient, ready, sent, release,
                                          outcomes[n]))
             for n in range(sessions)]
    await asyncio.wait_for(ready.opened.wait(), STEP_TIMEOUT)
    started = time.monotonic()
    await asyncio.wait_for(sent.opened.wait(), STEP_TIMEOUT * 4)
    sending = time.monotonic() - started
    await asyncio.get_running_loop().run_in_executor(None, while_held)
    released = time.monotonic()
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), STEP_TIMEOUT * 2)
    return outcomes, sending, time.monotonic() - released
