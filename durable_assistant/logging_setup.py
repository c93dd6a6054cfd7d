"""Log levels for the SDKs the app uses, set once by the composition root.

At INFO, azure-core logs every Table storage request with all its headers and the
OpenAI SDK's HTTP client logs every request line: in `func start`, devhost and
Application Insights that buries the app's own lines (which carry the instance id).
Their warnings and errors still show.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

CHATTY_SDK_LOGGERS = (
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "httpx",
    "httpx2",
)


def quiet_sdk_loggers(level: int = logging.WARNING) -> None:
    """Raise the chatty SDK loggers to `level` (the app's own loggers are untouched)."""
    for name in CHATTY_SDK_LOGGERS:
        logging.getLogger(name).setLevel(level)


class RunLog(logging.LoggerAdapter[logging.Logger]):
    """A logger for one run: each line begins "instance <id>: " for people reading the
    log, and carries `instance_id` as a field (a custom dimension in Application
    Insights) for queries."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        instance_id = (self.extra or {}).get("instance_id")
        kwargs["extra"] = {**kwargs.get("extra", {}), "instance_id": instance_id}
        return f"instance {instance_id}: {msg}", kwargs


def run_log(logger: logging.Logger, instance_id: str) -> RunLog:
    """`logger` for the run `instance_id` (see `RunLog`)."""
    return RunLog(logger, {"instance_id": instance_id})
