"""What the host reads besides the code: host.json, local.settings.json, app settings."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.versioning import Versioning

_SETTING = re.compile(r"%([^%]+)%")

DEFAULT_HUB_NAME = "TestHubName"


def expand_settings(value: str, environ: dict[str, str] | None = None) -> str:
    """Replace `%NAME%` with the app setting NAME, as the host does in binding values."""
    env = os.environ if environ is None else environ

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise KeyError(f"app setting '{name}' is not set (referenced as %{name}%)")
        return env[name]

    return _SETTING.sub(lookup, value)


def load_local_settings(app_dir: Path) -> dict[str, str]:
    """`Values` of local.settings.json (empty when the file is absent)."""
    path = app_dir / "local.settings.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    values = data.get("Values") or {}
    return {str(k): "" if v is None else str(v) for k, v in values.items()}


def apply_local_settings(app_dir: Path) -> list[str]:
    """Put local settings into the environment; variables already set win (the launcher's)."""
    applied = []
    for name, value in load_local_settings(app_dir).items():
        if name not in os.environ:
            os.environ[name] = value
            applied.append(name)
    return applied


@dataclass(frozen=True)
class HostConfig:
    """The parts of host.json devhost honours."""

    route_prefix: str = "api"
    hub_name: str = DEFAULT_HUB_NAME
    max_concurrent_activities: int = 10
    max_concurrent_orchestrations: int = 10
    versioning: Versioning = field(default_factory=Versioning)

    @classmethod
    def load(cls, app_dir: Path) -> HostConfig:
        """Read host.json from the app dir (defaults when absent), expanding `%SETTING%`."""
        path = app_dir / "host.json"
        data: dict[str, Any] = {}
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
        extensions = data.get("extensions") or {}
        http = extensions.get("http") or {}
        durable = extensions.get("durableTask") or {}
        prefix = http.get("routePrefix", "api")
        prefix = "" if prefix is None else str(prefix).strip("/")
        hub = expand_settings(str(durable.get("hubName") or DEFAULT_HUB_NAME))
        return cls(
            route_prefix=prefix,
            hub_name=hub,
            max_concurrent_activities=int(durable.get("maxConcurrentActivityFunctions") or 10),
            max_concurrent_orchestrations=int(
                durable.get("maxConcurrentOrchestratorFunctions") or 10
            ),
            versioning=Versioning.from_host_json(durable),
        )
