"""Listening ports for the servers that tests and benchmarks start on loopback.

A port the kernel picks for bind(port 0) comes from the ephemeral range, which outgoing
connections draw from too: between the probe closing and the server binding it, a client
socket of some other test may take it, and the server fails with "Address already in use".
These ports come from below the ephemeral range instead, are probed free, and are never
handed out twice by one process. The start is spread by PID so that two runs on one machine
(CI beside a developer's run) rarely probe the same ports.
"""

import os
import socket

_LOWEST = 10000
_given = set()


def _ephemeral_start():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(kind, host, port):
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host="127.0.0.1", udp=False):
    """A port on `host` that nothing held for TCP (and for UDP too when `udp`) a moment ago
    and that this process has not handed out before."""
    highest = max(_LOWEST + 1000, _ephemeral_start())
    span = highest - _LOWEST
    start = (os.getpid() * 7919) % span
    for step in range(span):
        port = _LOWEST + (start + step) % span
        if (host, port) in _given:
            continue
        if _bindable(socket.SOCK_STREAM, host, port) and (
                not udp or _bindable(socket.SOCK_DGRAM, host, port)):
            _given.add((host, port))
            return port
    raise RuntimeError(f"no free port on {host} below the ephemeral range")
