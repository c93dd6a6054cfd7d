"""A tool that takes its time, loaded into the app by the TOOL_MODULES setting.

It reports when its wait began and ended (wall clock), so a test can tell whether two
calls of one step ran at the same time.
"""

from __future__ import annotations

import time
from typing import Annotated

from pydantic import Field

from durable_assistant.tools import tool


@tool
def pause(seconds: Annotated[float, Field(ge=0, le=10)], label: str) -> dict[str, object]:
    """Wait a while, then say when the wait began and ended.

    Args:
        seconds: How long to wait.
        label: A name for this wait, returned as given.
    """
    began = time.time()
    time.sleep(seconds)
    return {"label": label, "began": began, "ended": time.time()}
