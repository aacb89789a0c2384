"""An MX host that tarpits: it accepts TCP connections and never says a word, the way a
hostile or broken server holds a sender's attempt. Loopback only; every connection is closed
by stop()."""

import socket
import threading

from loopback_ports import free_port


class Tarpit:
    def __init__(self, host, port=None):
        self.host = host
        self.port = port or free_port(host)
        self._held = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, self.port))
        self._socket.listen(1024)
        self._socket.settimeout(0.2)  # so that the accept loop sees stop() soon
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._held.append(connection)

    @property
    def connections(self):
        with self._lock:
            return len(self._held)

    def stop(self):
        self._stopped.set()
        self._thread.join(timeout=5)
        self._socket.close()
        with self._lock:
            for connection in self._held:
                connection.close()
            self._held.clear()
