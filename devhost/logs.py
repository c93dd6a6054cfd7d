"""Readable logs: one line per function execution, plus the app's own `logging` output."""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("devhost")


def configure(level: int = logging.INFO) -> None:
    """Send devhost's and the app's log records to stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def executed(
    name: str,
    *,
    ok: bool,
    seconds: float,
    invocation_id: str,
    instance_id: str | None = None,
    detail: str = "",
) -> None:
    """Log one function execution the way the host summarises it."""
    outcome = "Succeeded" if ok else "Failed"
    instance = f" instance={instance_id}" if instance_id else ""
    extra = f" {detail}" if detail else ""
    LOGGER.log(
        logging.INFO if ok else logging.WARNING,
        "Executed '%s' (%s, Id=%s, Duration=%dms)%s%s",
        name,
        outcome,
        invocation_id,
        round(seconds * 1000),
        instance,
        extra,
    )
