"""Time limits for the end-to-end tests: every wait is bounded, and scaled up under the
sanitizer build (HERALD_SANITIZE=1), where everything runs several times slower."""

import os
import time

SCALE = 5.0 if os.environ.get("HERALD_SANITIZE", "0") not in ("", "0", "OFF", "FALSE") else 1.0


def seconds(base):
    """A time limit of `base` seconds on the release build, scaled for this build."""
    return base * SCALE


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls `predicate` until it returns something truthy and returns that; fails the test
    with `what` if `timeout` (already scaled by the caller) passes first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
