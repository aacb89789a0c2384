"""A raw SMTP client for the tests that must control every byte on the wire (bare LF, NUL,
pipelined commands in one write, BDAT chunks, half-sent messages), which smtplib hides."""

import socket
import ssl

from bounded_wait import seconds


class Reply:
    def __init__(self, lines):
        self.lines = lines  # whole lines, "NNN-..." and the last "NNN ..."
        self.code = int(lines and lines[-1][:3] or 0)
        self.raw = "\n".join(lines)

    @property
    def text(self):
        """The last line without its code: `2.0.0 queued as ID` for a 250 to end of data."""
        return self.lines[-1][4:]

    @property
    def extensions(self):
        """The lines after the first without their code: the EHLO keywords."""
        return [line[4:] for line in self.lines[1:]]

    def __repr__(self):
        return f"Reply({self.raw!r})"


class SmtpWire:
    """One connection. Every read has a timeout, so a silent server fails the test instead
    of hanging it."""

    def __init__(self, port, timeout=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout or seconds(10))
        self.buffer = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _read_line(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed; unread: {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """Reads one (possibly multi-line) reply."""
        lines = [self._read_line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self._read_line())
        return Reply(lines)

    def command(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def greeting(self):
        return self.reply()

    def ehlo(self, name="client.example.org"):
        return self.command(f"EHLO {name}")

    def closed_by_server(self):
        """True once the server has closed the connection (reads EOF, bounded by the timeout)."""
        if self.buffer:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def start_tls(self):
        """The TLS handshake on this connection (after a 220 to STARTTLS). Certificates are not
        checked: the daemon's pair is self-signed. Plaintext already buffered is an error: a
        server must not have sent anything between its 220 and the handshake."""
        assert not self.buffer, f"plaintext after the 220 to STARTTLS: {self.buffer!r}"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self.sock = context.wrap_socket(self.sock, server_hostname="mx.example.test")
        return self.sock.version(), self.sock.cipher()[0]

    def transaction(self, mail_from, recipients, body):
        """MAIL, RCPT..., DATA and the content (dot-stuffed by the caller if needed); returns
        the reply to the end of data. Asserts the expected replies on the way."""
        reply = self.command(f"MAIL FROM:<{mail_from}>")
        assert reply.code == 250, reply
        for rcpt in recipients:
            reply = self.command(f"RCPT TO:<{rcpt}>")
            assert reply.code == 250, reply
        reply = self.command("DATA")
        assert reply.code == 354, reply
        self.send(body + b".\r\n" if isinstance(body, bytes) else body + ".\r\n")
        return self.reply()


def message(subject, body_lines, sender="sender@remote.test", to="alice@example.test"):
    """A small RFC 5322 message with CRLF line ends, ready for DATA."""
    lines = [f"From: <{sender}>", f"To: <{to}>", f"Subject: {subject}", "", *body_lines]
    return "".join(line + "\r\n" for line in lines)
