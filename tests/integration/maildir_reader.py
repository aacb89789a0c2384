"""Reading what herald wrote into a Maildir file: header fields (unfolded) and the body.
Maildir files have Unix line ends (herald turns each CRLF into LF); CRLF is accepted too."""

import re


class StoredMessage:
    def __init__(self, path):
        self.path = path
        self.raw = path.read_bytes()
        parts = re.split(rb"\r?\n\r?\n", self.raw, maxsplit=1)
        assert len(parts) == 2, f"{path}: no empty line between header and body"
        head, self.body = parts
        unfolded = re.sub(rb"\r?\n[ \t]+", b" ", head).decode("utf-8", "replace")
        self.fields = [tuple(part.strip() for part in line.split(":", 1))
                       for line in re.split(r"\r?\n", unfolded)]

    def all(self, name):
        """Every value of the header field `name` (case-insensitive), top to bottom."""
        return [value for field, value in self.fields if field.lower() == name.lower()]

    def first(self, name):
        values = self.all(name)
        assert values, f"{self.path}: no {name} header field in {self.fields}"
        return values[0]

    def names(self):
        return [field for field, _ in self.fields]
