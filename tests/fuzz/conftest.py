"""Fuzzing profiles: a few hundred examples in the normal run, thousands in the nightly target.

    pytest tests/fuzz                                   # normal run (fast; `heavy` is deselected by default)
    KINEVID_FUZZ=nightly pytest tests/fuzz -m heavy     # nightly: the `heavy` tests, thousands of examples

Examples are derandomised (the same inputs every run) unless KINEVID_FUZZ=nightly, which draws new
ones each run. Every example runs under a wall-clock alarm (`no_hang`): a parser that hangs fails the
test instead of stalling the run. Timing deadlines are off: the shared CI machine is too noisy for them.
"""

from __future__ import annotations

from fuzzing import COUNTS, NIGHTLY
from hypothesis import HealthCheck, settings

settings.register_profile(
    "kinevid-normal",
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
settings.register_profile(
    "kinevid-nightly",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
settings.load_profile("kinevid-nightly" if NIGHTLY else "kinevid-normal")


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        total = sum(COUNTS.values())
        lines = [f"  {name}: {count}" for name, count in sorted(COUNTS.items())]
        terminalreporter.write_line(f"fuzzed inputs ({total} in all):\n" + "\n".join(lines))
