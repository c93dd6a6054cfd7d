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
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    Unrecorded,
)
from durable_assistant.objects import (
    APP_TAG_KEY,
    APP_TAG_VALUE,
    INSTANCE_TAG_KEY,
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
    """Send one create whose intent is written down (`claim`), never again by the SDK.

    (The caller passes a client without SDK retries: a retry after a lost reply
    would make a second object nobody knows of.) When the create fails in a way that
    surely made nothing, the intent is settled; otherwise it stays open, so the next
    attempt knows an object may exist.
    """
    try:
        return create()
    except Exception as error:
        if surely_not_created(error):
            settle(recorder, intent, None)
        raise


def claim(recorder: ObjectRecorder, intents: Sequence[CreateIntent]) -> bool:
    """Write the intents of creates about to be sent, in one write.

    False, with nothing written, when an earlier attempt claimed them (first intents,
    see `CreateIntent.first`): the caller then reads what it left and claims anew.
    """
    return recorder.record_intents(intents)


def claim_again(recorder: ObjectRecorder, intent: CreateIntent) -> None:
    """Write the intent of a later attempt (its key is new, so it is never refused)."""
    if not recorder.record_intents([intent]):
        raise RuntimeError(f"the intent {intent.attempt} of {intent.instance_id} exists")


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
    """Write an object down as soon as it exists, before anything else can fail."""
    record_all_created(
        client, recorder, [(kind, object_id, intent)], instance_id=instance_id, backend=backend
    )


def record_all_created(
    client: OpenAI,
    recorder: ObjectRecorder,
    made: Sequence[tuple[ObjectKind, str, CreateIntent | None]],
    *,
    instance_id: str,
    backend: Backend,
) -> None:
    """Write objects down with the settling of their intents, in one write.

    If they cannot be written down (storage unavailable), nobody would ever know of
    them: the activity's retry creates others. So they are deleted again, at once,
    and the write's error raised, which fails the attempt for its retry.
    """
    now = datetime.now(UTC)
    objects = [
        CreatedObject(
            kind=kind, object_id=object_id, instance_id=instance_id, backend=backend, created_at=now
        )
        for kind, object_id, _ in made
    ]
    settled = [intent.settled_with(oid) for _, oid, intent in made if intent is not None]
    try:
        recorder.record_all(objects, settled)
    except Exception:
        for obj in objects:
            run_log(logger, instance_id).warning(
                "could not record %s %s; deleting it again", obj.kind.value, obj.object_id
            )
            try:
                delete_object(client, obj)
            except Exception as error:
                run_log(logger, instance_id).error(
                    "%s %s is neither recorded nor deleted: %s",
                    obj.kind.value,
                    obj.object_id,
                    error,
                )
        raise
    for obj in objects:
        run_log(logger, instance_id).info("created %s %s", obj.kind.value, obj.object_id)


def delete_all(
    client: OpenAI,
    recorder: ObjectRecorder,
    handle: RunHandle,
    from_handle: Iterable[tuple[ObjectKind, str]],
    kinds: frozenset[ObjectKind],
    *,
    closing: CreateIntent | None,
    unrecorded: tuple[ObjectKind, Unrecorded] | None = None,
) -> TeardownReport:
    """Delete the handle's objects and every live recorded one of `kinds`.

    `closing` is the first intent of the create that would come after the handle's
    objects (None when there is none). Marking the handle's objects deleted closes it
    in the same write; that write is refused when an attempt at that create was made
    or an object is not on record, and only then is the ledger read for objects the
    handle does not know (an attempt whose result was lost made them).

    `unrecorded`: one of the handle's objects its creator left for this write (the
    response that ended the run): written down in the same batch, marked deleted
    when its delete went through, live for the purge when not, with its intent
    settled.

    Never raises for one object: a failure is logged and listed in the report (the
    recorder keeps the object live, so the purge deletes it later).
    """
    instance_id = handle.instance_id
    now = datetime.now(UTC)
    targets = [
        CreatedObject(
            kind=kind,
            object_id=object_id,
            instance_id=instance_id,
            backend=handle.backend,
            created_at=now,
        )
        for kind, object_id in dict.fromkeys(from_handle)
    ]
    report = _Deletions(client, instance_id)
    done = report.delete(targets)
    leftover = _unrecorded_row(handle, unrecorded, done, now)
    left_key = (leftover[0].kind, leftover[0].object_id) if leftover else None
    marks = [key for key in done if key != left_key]
    if not recorder.mark_deleted_of(instance_id, marks, closing, [leftover] if leftover else []):
        known = {(o.kind, o.object_id) for o in targets}
        recorded = {(o.kind, o.object_id): o for o in recorder.objects_of(instance_id)}
        recorded_live = {key: o for key, o in recorded.items() if o.kind in kinds and not o.deleted}
        if leftover is not None and left_key not in recorded:
            obj, intent = leftover
            recorder.record_all([obj], [intent])
        done += report.delete([o for key, o in recorded_live.items() if key not in known])
        to_mark = [key for key in done if key in recorded_live]
        if to_mark and not recorder.mark_deleted_of(instance_id, to_mark):
            run_log(logger, instance_id).warning("could not mark %d objects deleted", len(to_mark))
    run_log(logger, instance_id).info(
        "teardown deleted %d, already gone %d, failed %d",
        len(report.deleted),
        len(report.gone),
        len(report.failed),
    )
    return TeardownReport(deleted=report.deleted, already_gone=report.gone, failed=report.failed)


def _unrecorded_row(
    handle: RunHandle,
    unrecorded: tuple[ObjectKind, Unrecorded] | None,
    done: Sequence[tuple[ObjectKind, str]],
    now: datetime,
) -> tuple[CreatedObject, CreateIntent] | None:
    """The row of the object its creator left for teardown (deleted when it is among
    `done`), and the settling of the intent that made it."""
    if unrecorded is None:
        return None
    kind, left = unrecorded
    obj = CreatedObject(
        kind=kind,
        object_id=left.object_id,
        instance_id=handle.instance_id,
        backend=handle.backend,
        created_at=now,
        deleted=(kind, left.object_id) in done,
    )
    intent = CreateIntent(
        instance_id=handle.instance_id,
        attempt=left.attempt,
        purpose=left.purpose,
        kind=kind,
        backend=handle.backend,
        started_at=now,
    ).settled_with(left.object_id)
    return obj, intent


class _Deletions:
    """The deletes of one teardown, threads before the assistant that runs on them."""

    def __init__(self, client: OpenAI, instance_id: str) -> None:
        self._client = client
        self._instance_id = instance_id
        self.deleted: list[str] = []
        self.gone: list[str] = []
        self.failed: list[str] = []

    def delete(self, objects: Iterable[CreatedObject]) -> list[tuple[ObjectKind, str]]:
        """Delete each object; the keys of those now gone."""
        done: list[tuple[ObjectKind, str]] = []
        for obj in sorted(objects, key=lambda o: _DELETE_ORDER[o.kind]):
            try:
                outcome = delete_object(self._client, obj)
            except Exception as error:
                self.failed.append(obj.object_id)
                run_log(logger, self._instance_id).warning(
                    "could not delete %s %s: %s", obj.kind.value, obj.object_id, error
                )
                continue
            done.append((obj.kind, obj.object_id))
            (self.deleted if outcome == "deleted" else self.gone).append(obj.object_id)
        return done


_DELETE_ORDER = {
    ObjectKind.THREAD: 0,
    ObjectKind.RESPONSE: 1,
    ObjectKind.CONVERSATION: 2,
    ObjectKind.ASSISTANT: 3,
}
