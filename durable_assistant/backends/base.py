"""The interface every model backend implements, and what they share.

A backend maps one OpenAI API onto the domain model: the orchestration only ever
sees `Step`s (a handle of ids and a small `RunState`), never SDK objects or the
transcript. Operations are idempotent enough for at-least-once activities:
`start` given a partial handle creates only what is missing, `teardown` treats
"already gone" as success and also deletes whatever the recorder holds for the
instance (objects created by an attempt whose result was lost).

Usage: `state.usage` is the token usage of model work that ended in that state and
is reported once per model turn (on the requires_action or terminal state that
ends it), so the orchestration adds up the usage of the steps it acts on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import httpx2
from openai import APIConnectionError, APIStatusError, APITimeoutError, OpenAI, RateLimitError

from durable_assistant.backends.deletion import delete_object
from durable_assistant.backends.errors import model_errors, throttled_state
from durable_assistant.backends.following import NO_FOLLOW, Follow
from durable_assistant.logging_setup import run_log
from durable_assistant.model import (
    Backend,
    RunHandle,
    StartInput,
    Step,
    SubmitInput,
    TeardownReport,
    ToolCall,
)
from durable_assistant.objects import (
    APP_TAG_KEY,
    APP_TAG_VALUE,
    INSTANCE_TAG_KEY,
    BatchDeletes,
    CreatedObject,
    CreateIntent,
    ObjectKind,
    ObjectRecorder,
)

logger = logging.getLogger(__name__)

POLL_AFTER_HEADER = "openai-poll-after-ms"
C = TypeVar("C", bound=OpenAI)


class ModelBackend(Protocol):
    """start → (poll → submit)* → teardown, with cancel at any time.

    With `follow` enabled, start and submit read the turn's event stream until the
    run needs tools or ends (or the budget passes: the state is then pending), and
    pass the answer's text pieces to `follow.on_text` as they come.
    """

    def start(self, start: StartInput, follow: Follow = NO_FOLLOW) -> Step:
        """Create the server-side objects (only those the handle lacks) and start."""
        ...

    def poll(self, handle: RunHandle) -> Step:
        """Where the run is now."""
        ...

    def submit(self, submit: SubmitInput, follow: Follow = NO_FOLLOW) -> Step:
        """Hand every tool output of one step to the model, all at once."""
        ...

    def cancel(self, handle: RunHandle) -> Step:
        """Ask the service to stop the run; the state says where it is."""
        ...

    def teardown(self, handle: RunHandle) -> TeardownReport:
        """Delete what the run created; already gone counts as deleted."""
        ...


def guarded(what: str, handle: RunHandle, operation: Callable[[], Step]) -> Step:
    """Run one backend operation: a 429 the SDK gave up on becomes a throttled state
    (same handle, so the orchestration retries after the wait); credential and
    request errors become clear exceptions; 5xx and timeouts propagate for retry.
    """
    try:
        with model_errors(what):
            return operation()
    except RateLimitError as error:
        return Step(handle=handle, state=throttled_state(error))


def distinct_calls(calls: Iterable[ToolCall], instance_id: str) -> list[ToolCall]:
    """The model's calls with each call id once (the first wins).

    A model can repeat a call id; the service then expects one output per id, so
    running and answering both would be refused on every retry.
    """
    seen: dict[str, ToolCall] = {}
    for call in calls:
        if call.call_id in seen:
            run_log(logger, instance_id).warning(
                "the model repeated call id %s; answering it once", call.call_id
            )
            continue
        seen[call.call_id] = call
    return list(seen.values())


def tags_for(instance_id: str) -> dict[str, str]:
    """Metadata naming this app and the owning orchestration (found by the purge)."""
    return {APP_TAG_KEY: APP_TAG_VALUE, INSTANCE_TAG_KEY: instance_id[:512]}


def poll_after_ms(headers: Mapping[str, str]) -> int | None:
    """The service's polling hint, when it gives a usable one."""
    value = headers.get(POLL_AFTER_HEADER)
    if value is None:
        return None
    try:
        hint = int(float(value))
    except (ValueError, OverflowError):  # not a number, or inf/nan
        return None
    return hint if hint >= 0 else None


T = TypeVar("T")


def sent_once(recorder: ObjectRecorder, intent: CreateIntent, create: Callable[[], T]) -> T:
    """Send one create with its intent written down first, and never again by the SDK.

    (The caller passes a client without SDK retries: a retry after a lost reply
    would make a second object nobody knows of.) When the create fails in a way that
    surely made nothing, the intent is settled; otherwise it stays open, so the next
    attempt knows an object may exist.
    """
    recorder.record_intent(intent)
    try:
        return create()
    except Exception as error:
        if surely_not_created(error):
            settle(recorder, intent, None)
        raise


def surely_not_created(error: BaseException) -> bool:
    """The service answered with an error, or no connection was ever made."""
    if isinstance(error, APIStatusError):
        return True
    if isinstance(error, APIConnectionError) and not isinstance(error, APITimeoutError):
        return isinstance(error.__cause__, httpx2.ConnectError | httpx2.ConnectTimeout)
    return False


def settle(recorder: ObjectRecorder, intent: CreateIntent, object_id: str | None) -> None:
    """Settle an intent, best effort: an open intent only makes the next attempt careful."""
    try:
        recorder.settle_intent(intent, object_id)
    except Exception as error:
        run_log(logger, intent.instance_id).warning(
            "could not settle the intent of a %s create: %s", intent.kind.value, error
        )


def open_intents(recorder: ObjectRecorder, instance_id: str, purpose: str) -> list[CreateIntent]:
    """Earlier creates for `purpose` whose reply never came."""
    return [i for i in recorder.intents_of(instance_id) if i.purpose == purpose and not i.settled]


def warn_if_lost(recorder: ObjectRecorder, instance_id: str, purpose: str) -> None:
    """Log a create whose reply was lost when its object cannot be found again."""
    lost = open_intents(recorder, instance_id, purpose)
    for intent in lost:
        run_log(logger, instance_id).warning(
            "an earlier %s create got no reply; if it was made, the API offers no way "
            "to find it again (see docs/ledger.md)",
            intent.kind.value,
        )


def without_sdk_retries(client: C) -> C:
    """The client for creates: a lost reply must not be sent again by the SDK."""
    return client.with_options(max_retries=0)


def record_created(
    client: OpenAI,
    recorder: ObjectRecorder,
    kind: ObjectKind,
    object_id: str,
    *,
    instance_id: str,
    backend: Backend,
    intent: CreateIntent | None = None,
) -> None:
    """Write an object down as soon as it exists, before anything else can fail.

    If it cannot be written down (storage unavailable), nobody would ever know of it:
    the activity's retry creates another. So it is deleted again, at once, and the
    write's error raised, which fails the attempt for its retry.
    """
    obj = CreatedObject(
        kind=kind,
        object_id=object_id,
        instance_id=instance_id,
        backend=backend,
        created_at=datetime.now(UTC),
    )
    try:
        recorder.record(obj)
    except Exception:
        run_log(logger, instance_id).warning(
            "could not record %s %s; deleting it again", kind.value, object_id
        )
        try:
            delete_object(client, obj)
        except Exception as error:
            run_log(logger, instance_id).error(
                "%s %s is neither recorded nor deleted: %s", kind.value, object_id, error
            )
        raise
    if intent is not None:
        settle(recorder, intent, object_id)
    run_log(logger, instance_id).info("created %s %s", kind.value, object_id)


def delete_all(
    client: OpenAI,
    recorder: ObjectRecorder,
    handle: RunHandle,
    from_handle: Iterable[tuple[ObjectKind, str]],
    kinds: frozenset[ObjectKind],
) -> TeardownReport:
    """Delete the handle's objects and every live recorded one of `kinds`.

    Never raises for one object: a failure is logged and listed in the report (the
    recorder keeps the object live, so the purge deletes it later).
    """
    instance_id = handle.instance_id
    targets: dict[tuple[ObjectKind, str], CreatedObject] = {}
    now = datetime.now(UTC)
    for kind, object_id in from_handle:
        targets[(kind, object_id)] = CreatedObject(
            kind=kind,
            object_id=object_id,
            instance_id=instance_id,
            backend=handle.backend,
            created_at=now,
        )
    recorded_live: set[tuple[ObjectKind, str]] = set()
    for obj in recorder.objects_of(instance_id):
        if obj.kind in kinds and not obj.deleted:
            targets.setdefault((obj.kind, obj.object_id), obj)
            recorded_live.add((obj.kind, obj.object_id))

    deleted: list[str] = []
    gone: list[str] = []
    failed: list[str] = []
    done: list[tuple[ObjectKind, str]] = []
    # Threads before the assistant that runs on them.
    ordered = sorted(targets.values(), key=lambda o: _DELETE_ORDER[o.kind])
    for obj in ordered:
        try:
            outcome = delete_object(client, obj)
        except Exception as error:
            failed.append(obj.object_id)
            run_log(logger, instance_id).warning(
                "could not delete %s %s: %s", obj.kind.value, obj.object_id, error
            )
            continue
        done.append((obj.kind, obj.object_id))
        (deleted if outcome == "deleted" else gone).append(obj.object_id)
    _mark_deleted(recorder, instance_id, done, recorded_live)
    run_log(logger, instance_id).info(
        "teardown deleted %d, already gone %d, failed %d", len(deleted), len(gone), len(failed)
    )
    return TeardownReport(deleted=deleted, already_gone=gone, failed=failed)


def _mark_deleted(
    recorder: ObjectRecorder,
    instance_id: str,
    objects: list[tuple[ObjectKind, str]],
    recorded_live: set[tuple[ObjectKind, str]],
) -> None:
    """Note the deletions: the recorded live ones in one batch when the recorder can,
    the rest (unrecorded, or already marked) one by one, which tolerates both."""
    batch = [key for key in objects if key in recorded_live]
    single = [key for key in objects if key not in recorded_live]
    if batch and isinstance(recorder, BatchDeletes):
        try:
            recorder.mark_deleted_of(instance_id, batch)
        except Exception as error:
            run_log(logger, instance_id).warning(
                "could not mark %d objects deleted at once (%s); one by one", len(batch), error
            )
            single += batch
    else:
        single += batch
    for kind, object_id in single:
        recorder.mark_deleted(kind, object_id)


_DELETE_ORDER = {
    ObjectKind.THREAD: 0,
    ObjectKind.RESPONSE: 1,
    ObjectKind.CONVERSATION: 2,
    ObjectKind.ASSISTANT: 3,
}
