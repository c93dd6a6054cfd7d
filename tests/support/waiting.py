"""Waiting for a condition instead of sleeping a fixed time: fast when the machine is
fast, patient when it is loaded, and a clear failure when the condition never holds."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    condition: Callable[[], object], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Return once `condition()` is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not reached after {timeout:.0f} s"
        time.sleep(0.02)


def holds_within(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Whether `condition()` becomes truthy within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
