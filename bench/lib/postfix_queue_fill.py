"""Fills a stopped private Postfix instance's deferred queue with N copies of one message that
Postfix itself accepted and deferred, for the queue-restart benchmark.

Through SMTP (or sendmail) Postfix takes ~600 messages a second here: 1,000,000 would take half
an hour. So Postfix writes one message the ordinary way (smtpd → cleanup → qmgr → smtp, which
finds the destination down and defers it), and this module clones that queue file and its
defer log N times, which is what a deferred queue of N such messages holds:

- each copy is named as Postfix names a queue file (short queue IDs, the default: five hex
  digits of microseconds, then the file's inode number in hex), in the hashed subdirectory
  Postfix would use (the ID's first character, hash_queue_depth = 1), so that the structure
  check `postfix start` runs (`postsuper`) finds nothing to rename;
- the template's queue ID inside the file (the `log_ident` attribute, the Received field's
  `id`) is replaced with the copy's own where it has the same length, which keeps every
  record's size and the offsets in the size record right; a copy whose inode number has a
  different number of hex digits keeps the template's ID there (logging only);
- owner postfix, mode 0700 (a complete queue file), mtime now: due for a retry at once,
  like herald_queue_fill's deliveries;
- the defer log (the reason the destination was down) is copied beside it, as Postfix leaves
  one for every deferred message; mailq prints it.

Nothing is fsynced per file (the page cache holds them; one sync() at the end): this is a
fixture, not a measurement.
"""

import os
import pwd
import time

_MASK = 0o700


def _records(data):
    """Postfix's record stream: (type byte, payload) pairs; the length is base 128, low
    7 bits first, high bit set on every byte but the last."""
    out, at = [], 0
    while at < len(data):
        kind = data[at]
        at += 1
        length, shift = 0, 0
        while True:
            byte = data[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        out.append((kind, data[at:at + length]))
        at += length
    return out


def _encode(records):
    out = bytearray()
    for kind, payload in records:
        out.append(kind)
        length = len(payload)
        while True:
            byte = length & 0x7F
            length >>= 7
            out.append(byte | (0x80 if length else 0))
            if not length:
                break
        out += payload
    return bytes(out)


class Template:
    """A deferred queue file and its defer log, as Postfix wrote them."""

    def __init__(self, queue_dir):
        """Finds the only message in queue_dir/deferred (RuntimeError if there is not
        exactly one) and removes it: the fill writes the N copies."""
        found = [(sub, name) for sub in os.listdir(queue_dir / "deferred")
                 for name in os.listdir(queue_dir / "deferred" / sub)]
        if len(found) != 1:
            raise RuntimeError(f"expected one deferred message in {queue_dir}, found "
                               f"{len(found)}")
        sub, self.queue_id = found[0]
        queue_file = queue_dir / "deferred" / sub / self.queue_id
        defer_log = queue_dir / "defer" / sub / self.queue_id
        self.queue_file = queue_file.read_bytes()
        self.defer_log = defer_log.read_bytes()
        # The ID's text only occurs where Postfix wrote it (log_ident, Received): check the
        # records parse and re-encode to the same bytes before relying on it.
        if _encode(_records(self.queue_file)) != self.queue_file:
            raise RuntimeError(f"could not parse the queue file {queue_file}")
        queue_file.unlink()
        defer_log.unlink()

    def copy_for(self, queue_id):
        if len(queue_id) != len(self.queue_id):
            return self.queue_file
        return self.queue_file.replace(self.queue_id.encode(), queue_id.encode())


def fill(queue_dir, template, count):
    """Writes `count` copies of `template` into queue_dir's deferred queue; Postfix must not
    be running. Returns the seconds it took (sync included)."""
    postfix = pwd.getpwnam("postfix")
    uid, gid = postfix.pw_uid, postfix.pw_gid
    deferred, defer = queue_dir / "deferred", queue_dir / "defer"
    for parent in (deferred, defer):
        for digit in "0123456789ABCDEF":
            (parent / digit).mkdir(exist_ok=True)
            os.chown(parent / digit, uid, gid)
            os.chmod(parent / digit, _MASK)
    start = time.monotonic()
    scratch = str(deferred / "fill.tmp")
    for number in range(count):
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            inode = os.fstat(fd).st_ino
            queue_id = f"{number % 1000000:05X}{inode:X}"
            os.write(fd, template.copy_for(queue_id))
            os.fchown(fd, uid, gid)
            os.fchmod(fd, _MASK)
        finally:
            os.close(fd)
        os.rename(scratch, deferred / queue_id[0] / queue_id)
        log = os.open(defer / queue_id[0] / queue_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(log, template.defer_log)
            os.fchown(log, uid, gid)
        finally:
            os.close(log)
    os.sync()
    return time.monotonic() - start
