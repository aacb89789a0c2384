"""Stopping a helper process a benchmark started (a sink, a stub MX): SIGTERM, then SIGKILL
if it has not exited within `timeout` seconds. Only that process, by its own handle."""

import signal
import subprocess


def terminate(process, timeout=10):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
