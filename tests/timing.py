"""How long the tests wait: one scale for every wait and timeout, so a slow or busy machine
gets longer bounds instead of failures.

A wait here only bounds how long a test that is going wrong takes to say so: every one of
them returns as soon as what it waits for happens. None decides whether a test passes, so
generous bounds cost a passing run nothing. `seconds(quiet)` is `quiet` (enough on a quiet
2-core machine) times POLICY_TEST_TIME_SCALE, 3 by default: CI runs the whole suite with both
cores of its machine kept busy at that default. Set it higher on a machine slower still.

Times a scenario is made of (how fast a client trickles its bytes, the service's own
timeouts under test) are not waits and are not scaled.
"""

import os
import time

SCALE_VARIABLE = "POLICY_TEST_TIME_SCALE"
DEFAULT_SCALE = 3.0


def _scale() -> float:
    value = float(os.environ.get(SCALE_VARIABLE, DEFAULT_SCALE))
    if not value > 0:
        raise ValueError(f"{SCALE_VARIABLE} must be a positive number, not {value}")
    return value


SCALE = _scale()


def seconds(quiet: float) -> float:
    """Returns the bound for a wait that takes at most `quiet` seconds on a quiet machine."""
    return quiet * SCALE


def wait_for(condition, what: str, timeout: float, poll: float = 0.1) -> None:
    """Returns once `condition()` is true; raises AssertionError naming `what` if it is still
    false after `timeout` seconds (pass `seconds(...)`)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)
