"""The bench's slow tool, loaded into the app by the `TOOL_MODULES` app setting.

A tool that takes a fixed time stands in for real tools that call other services:
it makes the difference between running one step's calls one by one and running
them at once visible, and the same function serves the baseline's tool dict.
"""

from __future__ import annotations

import time
from typing import Annotated

from pydantic import Field

from durable_assistant.tools import tool


@tool
def bench_wait(seconds: Annotated[float, Field(ge=0, le=10)], label: str) -> dict[str, object]:
    """Wait a while (like a slow lookup), then return the label.

    Args:
        seconds: How long the lookup takes.
        label: A name for this lookup, returned as given.
    """
    time.sleep(seconds)
    return {"label": label, "waited": seconds}
