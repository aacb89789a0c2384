"""A scripted receiving MTA for the relay tests: aiosmtpd on a given 127.0.0.x address and
port, in a thread of the test process, whose answers are set per recipient:

    peer = SmtpPeer("127.0.0.11", name="mx1.relay.test").start()
    peer.rule("bob@relay.test", tempfail_first=1)   # 451 at RCPT once, then 250
    peer.rule("carol@relay.test", reject=True)      # 550 at RCPT, always
    peer.default.data_delay = 0.3                   # every end of data answered 0.3 s late

It records every transaction (envelope, data, MAIL and RCPT parameters as sent, TLS,
connection number, arrival order) and counts connections and per-recipient RCPT attempts.
Replies name the peer ("... by mx1.relay.test"), so a test can tell which host a ledger
reply came from.

aiosmtpd refuses ESMTP parameters it does not know; this peer takes the DSN (RFC 3461),
DELIVERBY (RFC 2852) and MT-PRIORITY (RFC 6710) parameters off MAIL and RCPT, records them
as the client wrote them and lets aiosmtpd handle the rest.
"""

import asyncio
import dataclasses
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from bounded_wait import seconds, wait_until
from loopback_ports import free_port

MAIL_PARAMETERS = ("RET", "ENVID", "BY", "MT-PRIORITY")
RCPT_PARAMETERS = ("NOTIFY", "ORCPT")


def make_self_signed_pair(directory, common_name):
    """A throwaway certificate and key made by openssl: (cert path, key path)."""
    cert, key = directory / f"{common_name}.crt", directory / f"{common_name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={common_name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=seconds(60))
    return cert, key


@dataclasses.dataclass
class Rule:
    """How the peer answers for one recipient (or, as `peer.default`, for all others)."""
    reject: bool = False              # 550 5.1.1 at RCPT, every time
    tempfail_first: int = 0           # 451 4.3.0 at RCPT for the first N RCPTs of the address
    tempfail_until_released: bool = False  # 451 at RCPT until peer.release(address)
    drop_first: int = 0               # close the connection after the data, before replying,
                                      # the first N times (the client never hears a reply)
    data_delay: float = 0.0           # seconds before the reply to the end of data


@dataclasses.dataclass
class Transaction:
    number: int             # order of arrival at this peer (end of data), from 1
    connection: int         # which connection brought it, from 1
    helo: str
    tls: bool               # the session had gone through STARTTLS
    mail_from: str
    mail_parameters: dict   # e.g. {"RET": "HDRS", "ENVID": "abc"} as the client wrote them
    rcpt_tos: list
    rcpt_parameters: dict   # address -> {"NOTIFY": "SUCCESS", "ORCPT": "rfc822;..."}
    data: bytes
    received_at: float      # time.monotonic() at the end of data
    outcome: str = "pending"  # accepted | dropped
    reply: str = ""


def _split_parameters(arg, known):
    """'FROM:<a@b> RET=HDRS SIZE=10' -> ('FROM:<a@b> SIZE=10', {'RET': 'HDRS'})."""
    close = arg.find(">")
    if close < 0:
        return arg, {}
    head, taken, kept = arg[:close + 1], {}, []
    for parameter in arg[close + 1:].split():
        keyword, _, value = parameter.partition("=")
        if keyword.upper() in known:
            taken[keyword.upper()] = value
        else:
            kept.append(parameter)
    return " ".join([head] + kept), taken


class _PeerSession(SMTP):
    """aiosmtpd's SMTP with connection counting and the QoS parameters taken off."""

    def __init__(self, peer, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.peer = peer
        self.connection_number = 0
        self.pending_mail_parameters = {}
        self.pending_rcpt_parameters = {}
        self._rcpt_parameters_of_this_command = {}

    def connection_made(self, transport):
        if self.transport is None:  # not the second call that follows STARTTLS
            self.connection_number = self.peer._connection_opened()
        super().connection_made(transport)

    async def smtp_MAIL(self, arg):
        self.pending_mail_parameters = {}
        if arg and self.peer.announce_dsn:
            arg, self.pending_mail_parameters = _split_parameters(arg, MAIL_PARAMETERS)
        with self.peer.lock:
            self.peer.mail_commands += 1
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg):
        parameters = {}
        if arg and self.peer.announce_dsn:
            arg, parameters = _split_parameters(arg, RCPT_PARAMETERS)
        self._rcpt_parameters_of_this_command = parameters
        await super().smtp_RCPT(arg)

    def _set_rset_state(self):
        super()._set_rset_state()
        self.pending_mail_parameters = {}
        self.pending_rcpt_parameters = {}

    def _set_post_data_state(self):
        super()._set_post_data_state()
        self.pending_mail_parameters = {}
        self.pending_rcpt_parameters = {}


class _Handler:
    def __init__(self, peer):
        self.peer = peer

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        # No AUTH (this peer is an MX); DSN, when announced, sits before the last line.
        responses = [r for r in responses if not r.startswith("250-AUTH")]
        if self.peer.announce_dsn:
            responses.insert(-1, "250-DSN")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rule = self.peer.rule_for(address)
        with self.peer.lock:
            attempt = self.peer.rcpt_attempts.get(address.lower(), 0) + 1
            self.peer.rcpt_attempts[address.lower()] = attempt
            released = address.lower() in self.peer.released
        if rule.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable at {self.peer.name}"
        if attempt <= rule.tempfail_first or (rule.tempfail_until_released and not released):
            return (f"451 4.3.0 <{address}>: try again later (attempt {attempt}) at "
                    f"{self.peer.name}")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        server.pending_rcpt_parameters[address] = server._rcpt_parameters_of_this_command
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        rules = [self.peer.rule_for(a) for a in envelope.rcpt_tos]
        with self.peer.lock:
            self.peer.arrivals += 1
            transaction = Transaction(
                number=self.peer.arrivals, connection=server.connection_number,
                helo=session.host_name or "", tls=session.ssl is not None,
                mail_from=envelope.mail_from, mail_parameters=dict(server.pending_mail_parameters),
                rcpt_tos=list(envelope.rcpt_tos),
                rcpt_parameters=dict(server.pending_rcpt_parameters),
                data=envelope.original_content, received_at=time.monotonic())
            self.peer.transactions.append(transaction)
            drop = False
            for address, rule in zip(envelope.rcpt_tos, rules):
                dropped = self.peer.drops.get(address.lower(), 0)
                if dropped < rule.drop_first:
                    self.peer.drops[address.lower()] = dropped + 1
                    drop = True
        if drop:
            transaction.outcome = "dropped"
            server.transport.abort()  # no reply: the client cannot know whether we have it
            return "421 4.3.0 connection dropped (never sent)"
        delay = max((r.data_delay for r in rules), default=0.0)
        if delay:
            await asyncio.sleep(delay)
        # Accepted when the reply is decided, like an MTA that has committed the message:
        # if the client is gone by now (killed while waiting), the message is still here.
        transaction.reply = (f"250 2.0.0 Ok: message {transaction.number} accepted by "
                             f"{self.peer.name}")
        transaction.outcome = "accepted"
        return transaction.reply


class _Controller(Controller):
    def __init__(self, peer, **kwargs):
        self.peer = peer
        super().__init__(_Handler(peer), **kwargs)

    def factory(self):
        return _PeerSession(self.peer, self.handler, **self.SMTP_kwargs)


class SmtpPeer:
    """A receiving MTA on host:port (port: a free one on that address by default)."""

    def __init__(self, host, port=None, name=None, tls_pair=None, announce_dsn=True):
        self.host = host
        self.port = port or free_port(host)
        self.name = name or f"peer-{host}"
        self.announce_dsn = announce_dsn
        self.default = Rule()
        self.rules = {}
        self.released = set()
        self.lock = threading.Lock()
        self.transactions = []
        self.rcpt_attempts = {}
        self.drops = {}
        self.arrivals = 0
        self.connections = 0
        self.mail_commands = 0
        tls_context = None
        if tls_pair:
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(*map(str, tls_pair))
        self._controller = _Controller(
            self, hostname=host, port=self.port, server_hostname=self.name,
            tls_context=tls_context, require_starttls=False, enable_SMTPUTF8=True,
            ready_timeout=seconds(10))

    # --- behaviour -------------------------------------------------------------------------

    def rule(self, address, **settings):
        self.rules[address.lower()] = Rule(**settings)
        return self

    def rule_for(self, address):
        return self.rules.get(address.lower(), self.default)

    def release(self, address):
        """Ends a tempfail_until_released rule: the next RCPT for the address gets 250."""
        with self.lock:
            self.released.add(address.lower())

    # --- process ---------------------------------------------------------------------------

    def start(self):
        self._controller.start()
        with self.lock:  # the controller's own probe connection is not the client's
            self.connections = 0
        return self

    def stop(self):
        self._controller.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _connection_opened(self):
        with self.lock:
            self.connections += 1
            return self.connections

    # --- what arrived ----------------------------------------------------------------------

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def messages(self):
        """The accepted transactions, in order of arrival."""
        with self.lock:
            return [t for t in self.transactions if t.outcome == "accepted"]

    def attempts(self, address):
        with self.lock:
            return self.rcpt_attempts.get(address.lower(), 0)

    def wait_for_messages(self, count, timeout=None):
        wait_until(lambda: len(self.messages()) >= count, timeout or seconds(30),
                   f"{count} message(s) accepted by {self.name} ({self.address})")
        return self.messages()

    def wait_for_attempts(self, address, count, timeout=None):
        wait_until(lambda: self.attempts(address) >= count, timeout or seconds(30),
                   f"{count} RCPT attempt(s) for {address} at {self.name}")
