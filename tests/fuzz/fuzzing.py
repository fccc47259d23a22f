"""Fuzzing helpers: the hang guard and the per-target input counter."""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter

NIGHTLY = os.environ.get("KINEVID_FUZZ") == "nightly"
HANG_SECONDS = 30
COUNTS: Counter[str] = Counter()  # inputs tried per target, printed at the end of the run


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    """Fail (instead of hanging) when the block runs longer than `seconds` of wall-clock time."""

    def alarm(signum, frame):
        raise TimeoutError(f"fuzzed input ran longer than {seconds} s (a hang?)")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def expect_kinevid_errors_only(target: str, call, *args, **kwargs):
    """Run `call`, counting the input under `target`: a `KinevidError` is an accepted outcome (returns
    None), anything else propagates and fails the test; a hang raises `TimeoutError`."""
    from kinevid.errors import KinevidError

    COUNTS[target] += 1
    with no_hang():
        try:
            return call(*args, **kwargs)
        except KinevidError:
            return None
