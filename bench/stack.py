"""Start what the bench measures against, on loopback only, and stop it all after.

The pieces of the local stack of `make run` and the end-to-end tests
(`localrun.stack`): Azurite (the ledger's Table storage, here behind a proxy that
counts its requests), the Azure OpenAI emulator as its own process (so its work does
not share the bench's interpreter with the baselines), and devhost serving the
repository's `function_app.py`: one host per app mode (following model turns with
the shipped `MODEL_FOLLOW_SECONDS`, or polling only with it at 0), each with its own
task hub.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.table_proxy import TableProxy, counting_tables
from localrun.azurite import REPO_ROOT
from localrun.devhost_process import DevhostProcess, running_devhost
from localrun.stack import (
    API_VERSION,
    DEPLOYMENT,
    EMULATOR_KEY,
    EmulatorProcess,
    app_settings,
    running_azurite,
    running_model,
)

TOOL_MODULE = "bench.slow_tools"

__all__ = ["API_VERSION", "DEPLOYMENT", "EMULATOR_KEY", "Stack", "running_stack"]


@dataclass
class Stack:
    """The running services: one devhost per app mode, by mode name, and one per
    earlier app (`earlier_app`), by its label."""

    emulator: EmulatorProcess
    apps: dict[str, DevhostProcess]
    tables: TableProxy
    earlier: dict[str, DevhostProcess] = field(default_factory=dict)


@contextmanager
def running_stack(
    scripts: list[Path],
    modes: Mapping[str, Mapping[str, str]],
    earlier: Mapping[str, Path] | None = None,
    earlier_devhost: bool = False,
) -> Iterator[Stack]:
    """Azurite (counted), the emulator (seed script plus `scripts`), a devhost per mode
    (with that mode's extra app settings) and one per earlier app directory in
    `earlier` (label: directory, with its own defaults; served by that checkout's own
    devhost with `earlier_devhost`); all stopped on exit, in reverse order."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        storage = stack.enter_context(running_azurite(tmp / "azurite"))
        tables, counted = stack.enter_context(counting_tables(storage))
        model = stack.enter_context(running_model(scripts=scripts))
        hosts: dict[str, DevhostProcess] = {}
        sources: list[tuple[str, Path, Mapping[str, str], Path | None]] = [
            (mode, REPO_ROOT, extra, None) for mode, extra in modes.items()
        ]
        sources += [
            (label, tree, {}, tree if earlier_devhost else None)
            for label, tree in (earlier or {}).items()
        ]
        for number, (name, tree, extra, devhost_root) in enumerate(sources):
            settings = app_settings(
                counted,
                model.url,
                model.identity_env,
                TASKHUB_NAME=f"bench{number}",
                TOOL_MODULES=TOOL_MODULE,
                **extra,
            )
            hosts[name] = stack.enter_context(
                running_devhost(
                    tree, tmp / f"devhost-{number}", env=settings, devhost_root=devhost_root
                )
            )
        yield Stack(
            emulator=model,
            apps={mode: hosts[mode] for mode in modes},
            tables=tables,
            earlier={label: hosts[label] for label in earlier or {}},
        )
