"""Orchestration versioning, as the Durable extension and DurableTask.Core do it.

Every instance gets a version when it is created (the client's `version`, else
`extensions.durableTask.defaultVersion` from host.json) and keeps it for life, across
continue-as-new too; the orchestrator reads it as `context.version`. Before each episode
the worker compares the instance's version with its own `defaultVersion`
(`versionMatchStrategy`) and, on a mismatch, either leaves the work for a later worker
(`versionFailureStrategy` Reject) or fails the instance (Fail).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

# System.Version.TryParse: two to four dot-separated non-negative 32-bit integers.
_DOTNET_VERSION = re.compile(r"^\d+(\.\d+){1,3}$")
_INT32_MAX = 2**31 - 1

MISMATCH_TYPE = "VersionMismatch"
MISMATCH_MESSAGE = "Orchestration version did not comply with Worker Versioning"


class VersioningConfigError(ValueError):
    """host.json names a strategy the extension does not know."""


class MatchStrategy(enum.StrEnum):
    """`versionMatchStrategy`: which instances this worker may run."""

    NONE = "None"
    STRICT = "Strict"
    CURRENT_OR_OLDER = "CurrentOrOlder"


class FailureStrategy(enum.StrEnum):
    """`versionFailureStrategy`: what happens to an instance this worker may not run."""

    REJECT = "Reject"
    FAIL = "Fail"


def _dotnet_version(text: str) -> tuple[int, ...] | None:
    """`System.Version` components, or None when .NET would not parse the text."""
    if not _DOTNET_VERSION.match(text):
        return None
    parts = tuple(int(p) for p in text.split("."))
    if any(p > _INT32_MAX for p in parts):
        return None
    # Missing build/revision parts are -1 in .NET, so 1.0 sorts before 1.0.0.
    return parts + (-1,) * (4 - len(parts))


def compare_versions(version: str | None, other: str | None) -> int:
    """DurableTask.Core's `VersioningSettings.CompareVersions`: empty versions are equal
    and older than any other; two .NET versions compare numerically; anything else
    compares as case-insensitive ordinal strings."""
    if not version and not other:
        return 0
    if not version:
        return -1
    if not other:
        return 1
    parsed, parsed_other = _dotnet_version(version), _dotnet_version(other)
    if parsed is not None and parsed_other is not None:
        return (parsed > parsed_other) - (parsed < parsed_other)
    left, right = version.upper(), other.upper()
    return (left > right) - (left < right)


def _strategy(raw: Any, kind: type[enum.StrEnum], setting: str, default: enum.StrEnum) -> Any:
    """Parse a strategy name case-insensitively, as .NET binds enums from host.json."""
    if raw is None:
        return default
    for member in kind:
        if str(raw).strip().lower() == member.value.lower():
            return member
    names = ", ".join(m.value for m in kind)
    raise VersioningConfigError(
        f"host.json extensions.durableTask.{setting}: '{raw}' is not one of {names}"
    )


@dataclass(frozen=True)
class Versioning:
    """The worker's versioning settings (host.json `extensions.durableTask`)."""

    default_version: str | None = None
    match: MatchStrategy = MatchStrategy.CURRENT_OR_OLDER
    failure: FailureStrategy = FailureStrategy.REJECT

    @classmethod
    def from_host_json(cls, durable: dict[str, Any]) -> Versioning:
        """Read `defaultVersion`, `versionMatchStrategy` and `versionFailureStrategy`."""
        default = durable.get("defaultVersion")
        return cls(
            default_version=None if default is None else str(default),
            match=_strategy(
                durable.get("versionMatchStrategy"),
                MatchStrategy,
                "versionMatchStrategy",
                MatchStrategy.CURRENT_OR_OLDER,
            ),
            failure=_strategy(
                durable.get("versionFailureStrategy"),
                FailureStrategy,
                "versionFailureStrategy",
                FailureStrategy.REJECT,
            ),
        )

    def for_new_instance(self, requested: str | None) -> str | None:
        """The version a new instance or sub-orchestration gets."""
        return self.default_version if requested is None else requested

    def accepts(self, version: str | None) -> bool:
        """May this worker run an instance of that version? Without a `defaultVersion`
        there is nothing to compare against (as if versioning were off)."""
        if self.default_version is None or self.match is MatchStrategy.NONE:
            return True
        if self.match is MatchStrategy.STRICT:
            return version == self.default_version
        return compare_versions(version, self.default_version) <= 0
