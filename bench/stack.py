"""Start what the bench measures against, on loopback only, and stop it all after.

The local stack of `make run` and the end-to-end tests (`localrun.stack`): Azurite,
the Azure OpenAI emulator as its own process (so its work does not share the bench's
interpreter with the baseline), and devhost serving the repository's `function_app.py`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from localrun.stack import API_VERSION, DEPLOYMENT, EMULATOR_KEY, Stack
from localrun.stack import running_stack as running_local_stack

TOOL_MODULE = "bench.slow_tools"

__all__ = ["API_VERSION", "DEPLOYMENT", "EMULATOR_KEY", "Stack", "running_stack"]


@contextmanager
def running_stack(
    scripts: list[Path], extra_settings: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """The stack with the seed script plus `scripts`, the bench's tool, polling as shipped."""
    overrides = {"TASKHUB_NAME": "bench", "TOOL_MODULES": TOOL_MODULE, **(extra_settings or {})}
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        running_local_stack(Path(tmp), overrides=overrides, scripts=scripts) as stack,
    ):
        yield stack
