"""The purge: delete what teardown could not, then old orchestration history.

Teardown runs on every path, but a host can die between creating an object and
deleting it, and a lost thread id is a thread that lives forever (the Assistants API
cannot list threads). The purge is the second and third line of defence:

1. ledger objects not marked deleted are deleted when their orchestration is over
   (Completed, Failed, Terminated, Canceled), or is unknown and the object is older
   than the TTL; never while it is Running, Pending, Suspended or ContinuedAsNew;
2. assistants tagged with this app's metadata are deleted as soon as their
   instance is over, or once older than the TTL when the instance is unknown; never
   while it is active (this catches assistants whose ledger write or create reply was
   lost);
3. history of terminal instances older than the retention is purged, and ledger rows
   of objects deleted before the retention are dropped;
4. the event logs of runs started before the retention are removed with their history
   (those of runs still active are kept).

Pure core: the orchestration status source, the object deleter and the assistant
lister are small protocols; the timer trigger adapts the durable client and the
OpenAI client to them. Every step is idempotent, pages through everything and keeps
going past a single failure; counts of what happened are logged and returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import Field

from durable_assistant.backends.deletion import DeleteOutcome
from durable_assistant.model import FINISHED_STATUSES, Backend, Model, RuntimeStatus
from durable_assistant.objects import (
    APP_TAG_KEY,
    APP_TAG_VALUE,
    INSTANCE_TAG_KEY,
    CreatedObject,
    ObjectKind,
)
from durable_assistant.settings import Settings

logger = logging.getLogger(__name__)


ObjectDeleter = Callable[[CreatedObject], DeleteOutcome]
"""Deletes one server-side object by kind; raises when it could not."""


class RunEventLogs(Protocol):
    """What the purge needs from the run event log."""

    def runs_started_before(self, cutoff: datetime) -> list[str]:
        """Instance ids of runs whose event log began before `cutoff`."""
        ...

    def delete_run(self, instance_id: str) -> int:
        """Remove one run's events."""
        ...


class Orchestrations(Protocol):
    """What the purge needs from the durable client."""

    def status_of(self, instance_id: str) -> RuntimeStatus | None:
        """The instance's runtime status; None when there is no such instance."""
        ...

    def purge_history(self, created_before: datetime, statuses: Sequence[RuntimeStatus]) -> int:
        """Purge history of instances created before a time in these statuses; how many."""
        ...


class PurgeLedger(Protocol):
    """What the purge needs from the ledger (`TableLedger` implements it)."""

    def undeleted(self) -> Iterable[CreatedObject]:
        """Every object not marked deleted, all pages."""
        ...

    def mark_deleted_of(self, instance_id: str, objects: Sequence[tuple[ObjectKind, str]]) -> bool:
        """Mark recorded objects of one instance deleted; False when one is not on record."""
        ...

    def prune(self, deleted_before: datetime) -> int:
        """Drop rows of objects deleted before a time; how many."""
        ...


class ListedAssistant(Model):
    """One assistant as the list endpoint shows it."""

    assistant_id: str
    created_at: datetime
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def is_ours(self) -> bool:
        """Tagged at creation as an object of this app."""
        return self.metadata.get(APP_TAG_KEY) == APP_TAG_VALUE


class AssistantLister(Protocol):
    """Lists every assistant of the account, all pages."""

    def list_assistants(self) -> Iterable[ListedAssistant]: ...


class PurgePolicy(Model):
    """How old is too old: the object TTL and the history retention."""

    object_ttl: timedelta = timedelta(hours=24)
    history_retention: timedelta = timedelta(days=7)

    @classmethod
    def from_settings(cls, settings: Settings) -> PurgePolicy:
        """OBJECT_TTL_HOURS and HISTORY_RETENTION_DAYS from the app settings."""
        return cls(
            object_ttl=timedelta(hours=settings.object_ttl_hours),
            history_retention=timedelta(days=settings.history_retention_days),
        )


class PurgeCounts(Model):
    """What one step of the purge found and did with it."""

    found: int = 0
    deleted: int = 0
    already_gone: int = 0
    skipped: int = 0
    failed: int = 0


class PurgeReport(Model):
    """What a purge run did, per step; the totals are what the log line shows."""

    ledger: PurgeCounts = Field(default_factory=PurgeCounts)
    assistants: PurgeCounts = Field(default_factory=PurgeCounts)
    history_purged: int = 0
    ledger_rows_pruned: int = 0
    event_logs_purged: int = 0
    cleanup_failed: int = 0  # steps 3 and 4: history, ledger rows, event logs

    @property
    def totals(self) -> PurgeCounts:
        """Objects over steps 1 and 2, plus step 3's failures."""
        return PurgeCounts(
            found=self.ledger.found + self.assistants.found,
            deleted=self.ledger.deleted + self.assistants.deleted,
            already_gone=self.ledger.already_gone + self.assistants.already_gone,
            skipped=self.ledger.skipped + self.assistants.skipped,
            failed=self.ledger.failed + self.assistants.failed + self.cleanup_failed,
        )

    def summary(self) -> str:
        """One log line."""
        t = self.totals
        return (
            f"found={t.found} deleted={t.deleted} already_gone={t.already_gone} "
            f"skipped={t.skipped} failed={t.failed} history_purged={self.history_purged} "
            f"ledger_rows_pruned={self.ledger_rows_pruned} "
            f"event_logs_purged={self.event_logs_purged}"
        )


@dataclass
class _Tally:
    found: int = 0
    deleted: int = 0
    already_gone: int = 0
    skipped: int = 0
    failed: int = 0

    def counts(self) -> PurgeCounts:
        return PurgeCounts(
            found=self.found,
            deleted=self.deleted,
            already_gone=self.already_gone,
            skipped=self.skipped,
            failed=self.failed,
        )


class _LookupFailed:
    """A status lookup that raised: the object's fate is unknown, so it is kept."""


_LOOKUP_FAILED = _LookupFailed()


class _Statuses:
    """Status lookups, once per instance per purge run."""

    def __init__(self, orchestrations: Orchestrations) -> None:
        self._orchestrations = orchestrations
        self._known: dict[str, RuntimeStatus | _LookupFailed | None] = {}

    def of(self, instance_id: str) -> RuntimeStatus | _LookupFailed | None:
        if instance_id not in self._known:
            try:
                self._known[instance_id] = self._orchestrations.status_of(instance_id)
            except Exception:
                logger.exception("purge: status of instance %s unavailable", instance_id)
                self._known[instance_id] = _LOOKUP_FAILED
        return self._known[instance_id]


class _Verdict(StrEnum):
    DELETE = "delete"
    KEEP = "keep"
    UNKNOWN = "unknown"


def _verdict(status: RuntimeStatus | _LookupFailed | None, too_old: bool) -> _Verdict:
    """Delete when the owner is over, or gone and the object too old; never when active."""
    if isinstance(status, _LookupFailed):
        return _Verdict.UNKNOWN
    if status is None:
        return _Verdict.DELETE if too_old else _Verdict.KEEP
    if status in FINISHED_STATUSES:
        return _Verdict.DELETE
    return _Verdict.KEEP  # active, or a status this code does not know: keep to be safe


def _delete(
    obj: CreatedObject, deleter: ObjectDeleter, ledger: PurgeLedger | None, tally: _Tally
) -> None:
    """Delete one object and mark it in the ledger; a failure is counted, not raised."""
    try:
        outcome = deleter(obj)
    except Exception:
        tally.failed += 1
        logger.exception(
            "purge: could not delete %s %s of instance %s",
            obj.kind.value,
            obj.object_id,
            obj.instance_id,
        )
        return
    if outcome == "deleted":
        tally.deleted += 1
        logger.info(
            "purge: deleted %s %s of instance %s", obj.kind.value, obj.object_id, obj.instance_id
        )
    else:
        tally.already_gone += 1
    if ledger is None:
        return
    try:
        ledger.mark_deleted_of(obj.instance_id, [(obj.kind, obj.object_id)])
    except Exception:
        # Gone on the server; the next run finds it already gone and marks it then.
        tally.failed += 1
        logger.exception("purge: could not mark %s %s deleted", obj.kind.value, obj.object_id)


def _purge_ledger_objects(
    ledger: PurgeLedger,
    statuses: _Statuses,
    *,
    deleter: ObjectDeleter,
    policy: PurgePolicy,
    now: datetime,
    kept_assistants: dict[str, str],
) -> PurgeCounts:
    """Step 1: delete the ledger's live objects whose orchestration is over or gone.

    Fills `kept_assistants` (id → the instance it is recorded under) with the live
    assistants it keeps, so step 2 can mark one it deletes where its row is.
    """
    tally = _Tally()
    cutoff = now - policy.object_ttl
    try:
        for obj in ledger.undeleted():
            tally.found += 1
            verdict = _verdict(statuses.of(obj.instance_id), obj.created_at < cutoff)
            if verdict is _Verdict.DELETE:
                _delete(obj, deleter, ledger, tally)
                continue
            if obj.kind is ObjectKind.ASSISTANT:
                kept_assistants[obj.object_id] = obj.instance_id
            if verdict is _Verdict.KEEP:
                tally.skipped += 1
            else:
                tally.failed += 1
    except Exception:
        tally.failed += 1
        logger.exception("purge: reading the ledger failed; the next run continues")
    return tally.counts()


def _purge_tagged_assistants(
    lister: AssistantLister,
    statuses: _Statuses,
    *,
    deleter: ObjectDeleter,
    ledger: PurgeLedger | None,
    policy: PurgePolicy,
    now: datetime,
    recorded_under: dict[str, str],
) -> PurgeCounts:
    """Step 2: delete this app's assistants whose owner is over (or unknown and the
    assistant older than the TTL). `recorded_under`: step 1's kept assistants."""
    tally = _Tally()
    cutoff = now - policy.object_ttl
    ours: list[ListedAssistant] = []
    try:
        # Listed in full before deleting: deleting the cursor's anchor mid-way could
        # end the listing early.
        ours.extend(a for a in lister.list_assistants() if a.is_ours)
    except Exception:
        tally.failed += 1
        logger.exception("purge: listing assistants failed; purging those listed so far")
    for assistant in ours:
        tally.found += 1
        too_old = assistant.created_at < cutoff
        instance_id = assistant.metadata.get(INSTANCE_TAG_KEY, "")
        if not instance_id and not too_old:
            tally.skipped += 1
            continue
        # As soon as its orchestration is over (no TTL to wait out); when the
        # orchestration is unknown, once the assistant is older than the TTL.
        verdict = _verdict(statuses.of(instance_id), too_old) if instance_id else None
        if verdict is _Verdict.UNKNOWN:
            tally.failed += 1
            continue
        if verdict is _Verdict.KEEP:
            tally.skipped += 1
            continue
        obj = CreatedObject(
            kind=ObjectKind.ASSISTANT,
            object_id=assistant.assistant_id,
            instance_id=recorded_under.get(assistant.assistant_id, instance_id),
            backend=Backend.ASSISTANTS,
            created_at=assistant.created_at,
        )
        _delete(obj, deleter, ledger, tally)
    return tally.counts()


def _purge_event_logs(events: RunEventLogs, statuses: _Statuses, cutoff: datetime) -> int:
    """Step 4: remove the event logs of runs started before `cutoff` that are over or
    gone; a run still active keeps its log. Raises when the listing fails."""
    purged = 0
    for instance_id in events.runs_started_before(cutoff):
        status = statuses.of(instance_id)
        if isinstance(status, _LookupFailed):
            continue  # unknown fate: kept, the next run looks again
        if status is not None and status not in FINISHED_STATUSES:
            continue
        events.delete_run(instance_id)
        purged += 1
    return purged


def purge_leftovers(
    *,
    orchestrations: Orchestrations,
    deleter: ObjectDeleter,
    ledger: PurgeLedger | None,
    assistants: AssistantLister | None,
    policy: PurgePolicy,
    now: datetime,
    events: RunEventLogs | None = None,
) -> PurgeReport:
    """Run the four steps; never raises for a failure of one object or one step.

    `ledger` and `events` are None when no storage is configured, `assistants` when
    the Assistants API is not in use: their steps are then skipped.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    statuses = _Statuses(orchestrations)
    ledger_counts = PurgeCounts()
    kept_assistants: dict[str, str] = {}
    if ledger is not None:
        ledger_counts = _purge_ledger_objects(
            ledger,
            statuses,
            deleter=deleter,
            policy=policy,
            now=now,
            kept_assistants=kept_assistants,
        )
    assistant_counts = PurgeCounts()
    if assistants is not None:
        assistant_counts = _purge_tagged_assistants(
            assistants,
            statuses,
            deleter=deleter,
            ledger=ledger,
            policy=policy,
            now=now,
            recorded_under=kept_assistants,
        )

    history_purged = pruned = cleanup_failed = 0
    retention_cutoff = now - policy.history_retention
    try:
        history_purged = orchestrations.purge_history(retention_cutoff, FINISHED_STATUSES)
    except Exception:
        cleanup_failed += 1
        logger.exception("purge: purging orchestration history failed")
    if ledger is not None:
        try:
            pruned = ledger.prune(retention_cutoff)
        except Exception:
            cleanup_failed += 1
            logger.exception("purge: pruning ledger rows failed; the next run retries")

    event_logs = 0
    if events is not None:
        try:
            event_logs = _purge_event_logs(events, statuses, retention_cutoff)
        except Exception:
            cleanup_failed += 1
            logger.exception("purge: removing run event logs failed; the next run retries")

    report = PurgeReport(
        ledger=ledger_counts,
        assistants=assistant_counts,
        history_purged=history_purged,
        ledger_rows_pruned=pruned,
        event_logs_purged=event_logs,
        cleanup_failed=cleanup_failed,
    )
    logger.info("purge: %s", report.summary())
    return report
