"""Teardown against the emulator: nothing left behind, whatever state the objects are in."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import openai
import pytest

from durable_assistant.ledger import TableLedger
from durable_assistant.model import Backend, RunHandle, RunStatus
from durable_assistant.objects import CreatedObject, CreateIntent, MemoryRecorder, ObjectKind
from emulator.testing import RunningEmulator
from tests.support.backends import DEPLOYMENT, Harness, emulator_settings, make_harness


def fail(harness: Harness, route: str) -> None:
    """Make the next requests on `route` fail with a 500, past the SDK's one retry."""
    harness.emulator.configure(faults=[{"fault": "500", "count": 2, "route": route}])


def delete_behind_our_back(harness: Harness, handle: RunHandle) -> list[str]:
    """Delete the run's objects with the SDK directly, as someone else might."""
    beta = harness.clients.assistants.beta
    if harness.kind is Backend.ASSISTANTS:
        assert handle.thread_id and handle.assistant_id
        beta.threads.delete(handle.thread_id)
        beta.assistants.delete(handle.assistant_id)
        return [handle.thread_id, handle.assistant_id]
    for response_id in handle.response_ids:
        harness.clients.responses.responses.delete(response_id)
    return list(handle.response_ids)


def test_teardown_of_objects_already_deleted_succeeds(harness: Harness) -> None:
    end = harness.play()
    assert end.state.status is RunStatus.COMPLETED
    gone = delete_behind_our_back(harness, end.handle)
    assert gone
    assert set(harness.live().values()) == {0}

    report = harness.backend.teardown(end.handle)

    assert sorted(report.already_gone) == sorted(gone)
    assert (report.deleted, report.failed) == ([], [])


def test_a_second_teardown_finds_everything_gone(harness: Harness) -> None:
    end = harness.play()
    first = harness.backend.teardown(end.handle)
    assert first.deleted
    assert set(harness.live().values()) == {0}

    second = harness.backend.teardown(end.handle)

    assert sorted(second.already_gone) == sorted(first.deleted)
    assert (second.deleted, second.failed) == ([], [])


def test_teardown_mid_run_leaves_nothing(harness: Harness) -> None:
    step = harness.settle(harness.start())
    assert step.state.status is RunStatus.REQUIRES_ACTION
    assert sum(harness.live().values()) > 0

    report = harness.backend.teardown(step.handle)

    assert report.failed == []
    assert set(harness.live().values()) == {0}


@pytest.fixture(params=["memory", "table-ledger"])
def recorded(request: pytest.FixtureRequest, harness: Harness) -> Harness:
    """The harness's backend recording in memory, or in a Table ledger on Azurite."""
    if request.param == "memory":
        return harness
    ledger = TableLedger.from_connection_string(
        request.getfixturevalue("azurite"), "ledger" + uuid.uuid4().hex[:16], retry_total=1
    )
    settings = emulator_settings(harness.emulator.url)
    return make_harness(harness.kind, harness.emulator, settings, recorder=ledger)


def test_objects_whose_handle_was_lost_are_torn_down_from_the_recorder(
    recorded: Harness,
) -> None:
    """An activity failed after creating something, so its new handle never came back."""
    harness = recorded
    start = harness.start_input()
    if harness.kind is Backend.ASSISTANTS:
        # the assistant exists; creating the thread fails past the SDK's retries
        fail(harness, "POST /threads")
        with pytest.raises(openai.InternalServerError):
            harness.backend.start(start)
    else:
        # the first response exists; creating the next one of the chain fails
        step = harness.settle(harness.backend.start(start))
        results = harness.run_tools(step)
        fail(harness, "POST /responses")
        with pytest.raises(openai.InternalServerError):
            harness.submit(step, results)
    assert sum(harness.live().values()) > 0

    bare = RunHandle(backend=harness.kind, instance_id=start.instance_id)
    report = harness.backend.teardown(bare)

    assert report.deleted
    assert report.failed == []
    assert set(harness.live().values()) == {0}
    recorded_objects = harness.recorder.objects_of(start.instance_id)
    assert {o.object_id for o in recorded_objects} == set(report.deleted)
    assert all(o.deleted for o in recorded_objects)


def test_a_delete_that_fails_is_reported_and_retried_by_the_next_teardown(
    harness: Harness,
) -> None:
    end = harness.play()
    route = (
        "DELETE /threads/{thread_id}"
        if harness.kind is Backend.ASSISTANTS
        else "DELETE /responses/{response_id}"
    )
    fail(harness, route)

    report = harness.backend.teardown(end.handle)

    assert len(report.failed) == 1
    assert sum(harness.live().values()) > 0
    kinds = {o.object_id: o for o in harness.recorder.objects_of(end.handle.instance_id)}
    assert not kinds[report.failed[0]].deleted  # still live in the recorder
    again = harness.backend.teardown(end.handle)
    assert again.deleted == report.failed
    assert set(harness.live().values()) == {0}
    assert all(o.deleted for o in harness.recorder.objects_of(end.handle.instance_id))


def test_assistants_teardown_keeps_an_assistant_it_did_not_create(
    emulator: RunningEmulator, clean_env: pytest.MonkeyPatch
) -> None:
    harness = make_harness(Backend.ASSISTANTS, emulator, emulator_settings(emulator.url))
    shared = harness.clients.assistants.beta.assistants.create(model=DEPLOYMENT, name="shared")
    start = harness.start_input()
    handle = RunHandle(backend=Backend.ASSISTANTS, instance_id=start.instance_id)
    handle = handle.model_copy(update={"assistant_id": shared.id})
    end = harness.play(harness.backend.start(start.model_copy(update={"handle": handle})))
    assert end.state.status is RunStatus.COMPLETED
    assert not end.handle.created_assistant

    report = harness.backend.teardown(end.handle)

    assert report.deleted == [end.handle.thread_id]
    assert harness.live()["assistants"] == 1
    assert harness.live()["threads"] == 0


class StorageDownFor(MemoryRecorder):
    """A recorder whose storage fails for objects of one kind."""

    def __init__(self, kind: ObjectKind) -> None:
        super().__init__()
        self.kind = kind

    def record_all(
        self, objects: Sequence[CreatedObject], settled: Sequence[CreateIntent] = ()
    ) -> None:
        if any(obj.kind is self.kind for obj in objects):
            raise ConnectionError("table storage unavailable")
        super().record_all(objects, settled)


def test_an_object_that_cannot_be_recorded_is_deleted_again_and_the_start_fails(
    harness: Harness,
) -> None:
    """Else the activity's retry would create another, and nobody would know the first."""
    kind = ObjectKind.THREAD if harness.kind is Backend.ASSISTANTS else ObjectKind.RESPONSE
    settings = emulator_settings(harness.emulator.url)
    broken = make_harness(harness.kind, harness.emulator, settings, recorder=StorageDownFor(kind))
    start = broken.start_input()

    with pytest.raises(ConnectionError):
        broken.backend.start(start)

    live = broken.live()
    assert live["threads"] == 0
    assert live["responses"] == 0
    broken.backend.teardown(RunHandle(backend=broken.kind, instance_id=start.instance_id))
    assert set(broken.live().values()) == {0}
