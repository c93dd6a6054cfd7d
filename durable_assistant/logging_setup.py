"""Log levels for the SDKs the app uses, set once by the composition root.

At INFO, azure-core logs every Table storage request with all its headers and the
OpenAI SDK's HTTP client logs every request line: in `func start`, devhost and
Application Insights that buries the app's own lines (which carry the instance id).
Their warnings and errors still show.
"""

from __future__ import annotations

import logging

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
