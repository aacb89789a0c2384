"""Waiting until a freshly started server answers on its port: an SMTP greeting, or a TCP
accept for protocols where the client speaks first."""

import socket
import time


def wait_for_greeting(port, process, log, timeout):
    """Returns once 127.0.0.1:port sends a 220 greeting; raises RuntimeError if `process`
    (the Popen that started the server) exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no 220 greeting on port {port} within {timeout}s; see {log}")


def wait_for_listener(port, process, log, timeout):
    """Returns once 127.0.0.1:port accepts a TCP connection, for servers that do not greet
    (MQTT: the client speaks first); raises RuntimeError as wait_for_greeting does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port} within {timeout}s; see {log}")
