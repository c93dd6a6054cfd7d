"""What a run costs the ledger in Table requests, counted by a proxy in front of Azurite,
and the reads that only an attempt whose result was lost makes necessary."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import openai
import pytest

from bench.table_proxy import TableProxy, counting_tables
from durable_assistant.backends import Follow
from durable_assistant.backends.responses import submit_purpose
from durable_assistant.ledger import TableLedger
from durable_assistant.model import Backend, RunHandle, RunStatus
from durable_assistant.objects import CreateIntent, ObjectKind
from emulator.testing import RunningEmulator
from tests.support.backends import Harness, emulator_settings, make_harness

MOST_LEDGER_REQUESTS = 6
"""The most Table requests a run may cost the ledger."""


def ledger_requests_of_a_run(kind: Backend, turns: int) -> int:
    """What a run of `turns` model turns costs, following each turn as the app does.
    Assistants: the intents of the assistant and the thread, the two objects with their
    intents settled, teardown's marks. Responses, per response: its intent, then the
    response with its intent settled, except the last, whose row and settled intent go
    in teardown's batch with the marks."""
    if kind is Backend.ASSISTANTS:
        return 3
    return 2 * turns


@pytest.fixture
def counted(harness: Harness, azurite: str) -> Iterator[tuple[Harness, TableProxy, TableLedger]]:
    """The harness's backend recording in a Table ledger reached through a counting proxy."""
    with counting_tables(azurite) as (proxy, connection_string):
        ledger = TableLedger.from_connection_string(
            connection_string, "ledger" + uuid.uuid4().hex[:16], retry_total=1
        )
        ledger.ensure_table()
        settings = emulator_settings(harness.emulator.url)
        yield make_harness(harness.kind, harness.emulator, settings, recorder=ledger), proxy, ledger


FOLLOW = Follow(seconds=10)
"""Each turn followed on its stream, as the app does by default."""


def ledger_requests(proxy: TableProxy, ledger: TableLedger) -> int:
    return proxy.by_table[ledger.table_name]


def test_a_seed_run_writes_each_batch_once_and_reads_nothing(
    counted: tuple[Harness, TableProxy, TableLedger],
) -> None:
    harness, proxy, ledger = counted
    before = ledger_requests(proxy, ledger)

    end = harness.play(follow=FOLLOW)
    report = harness.backend.teardown(end.handle)

    assert end.state.status is RunStatus.COMPLETED
    assert report.failed == []
    spent = ledger_requests(proxy, ledger) - before
    turns = len(end.handle.response_ids) if harness.kind is Backend.RESPONSES else 3
    assert turns == 3  # the seed: two steps of one tool call, then the answer
    assert spent == ledger_requests_of_a_run(harness.kind, turns)
    assert spent <= MOST_LEDGER_REQUESTS
    assert set(harness.live().values()) == {0}
    recorded = ledger.objects_of(harness.instance_id)
    assert recorded
    assert all(o.deleted for o in recorded)
    assert all(i.settled for i in ledger.intents_of(harness.instance_id))


def test_teardown_finds_the_response_of_a_submit_whose_result_was_lost(
    emulator: RunningEmulator, azurite: str, clean_env: pytest.MonkeyPatch
) -> None:
    """The handle teardown gets predates a submit that made a response: the submit's
    claim is in the way of teardown's write, so teardown reads and deletes it too."""
    ledger = TableLedger.from_connection_string(
        azurite, "ledger" + uuid.uuid4().hex[:16], retry_total=1
    )
    harness = make_harness(
        Backend.RESPONSES, emulator, emulator_settings(emulator.url), recorder=ledger
    )
    step = harness.settle(harness.start())
    submitted = harness.submit(step, harness.run_tools(step))
    assert len(submitted.handle.response_ids) == 2

    report = harness.backend.teardown(step.handle)  # the submit's result never came

    assert sorted(report.deleted) == sorted(submitted.handle.response_ids)
    assert set(harness.live().values()) == {0}
    assert all(o.deleted for o in ledger.objects_of(harness.instance_id))


def test_a_start_that_outlives_its_teardown_leaves_its_response_on_record(
    emulator: RunningEmulator, azurite: str, clean_env: pytest.MonkeyPatch
) -> None:
    """A start attempt that outlives its run's teardown finds its claim taken by the
    teardown: it reads, makes its response, and records it (live, for the purge)."""
    ledger = TableLedger.from_connection_string(
        azurite, "ledger" + uuid.uuid4().hex[:16], retry_total=1
    )
    harness = make_harness(
        Backend.RESPONSES, emulator, emulator_settings(emulator.url), recorder=ledger
    )
    start = harness.start_input()

    harness.backend.teardown(RunHandle(backend=Backend.RESPONSES, instance_id=start.instance_id))
    late = harness.backend.start(start)

    assert late.handle.response_id is not None
    live = [o.object_id for o in ledger.undeleted() if o.instance_id == start.instance_id]
    assert live == [late.handle.response_id]
    harness.backend.teardown(late.handle)
    assert set(harness.live().values()) == {0}


def test_an_assistants_start_that_fails_after_its_assistant_leaves_it_on_record(
    emulator: RunningEmulator, azurite: str, clean_env: pytest.MonkeyPatch
) -> None:
    """Both creates are claimed at once; when the thread's fails, the assistant made
    before it is still recorded, and the retry adopts it instead of making another."""
    ledger = TableLedger.from_connection_string(
        azurite, "ledger" + uuid.uuid4().hex[:16], retry_total=1
    )
    harness = make_harness(
        Backend.ASSISTANTS, emulator, emulator_settings(emulator.url), recorder=ledger
    )
    emulator.configure(faults=[{"fault": "500", "count": 1, "route": "POST /threads"}])

    with pytest.raises(openai.InternalServerError):
        harness.start()

    [assistant] = ledger.objects_of(harness.instance_id)
    assert assistant.kind is ObjectKind.ASSISTANT
    assert all(i.settled for i in ledger.intents_of(harness.instance_id))
    step = harness.start()
    assert step.handle.assistant_id == assistant.object_id
    assert harness.live()["assistants"] == 1
    harness.backend.teardown(step.handle)
    assert set(harness.live().values()) == {0}


@pytest.fixture
def responses_on_table(
    emulator: RunningEmulator, azurite: str, clean_env: pytest.MonkeyPatch
) -> tuple[Harness, TableLedger]:
    ledger = TableLedger.from_connection_string(
        azurite, "ledger" + uuid.uuid4().hex[:16], retry_total=1
    )
    harness = make_harness(
        Backend.RESPONSES, emulator, emulator_settings(emulator.url), recorder=ledger
    )
    return harness, ledger


def test_the_response_that_ends_a_run_is_recorded_by_teardown(
    responses_on_table: tuple[Harness, TableLedger],
) -> None:
    harness, ledger = responses_on_table

    end = harness.play(follow=FOLLOW)

    *asked_for_tools, last = end.handle.response_ids
    assert end.handle.unrecorded is not None
    assert end.handle.unrecorded.object_id == last
    before = {o.object_id for o in ledger.objects_of(harness.instance_id)}
    assert before == set(asked_for_tools)  # on record as soon as they asked for a tool
    assert [i.settled for i in ledger.intents_of(harness.instance_id)].count(False) == 1

    report = harness.backend.teardown(end.handle)

    assert sorted(report.deleted) == sorted(end.handle.response_ids)
    recorded = {o.object_id: o for o in ledger.objects_of(harness.instance_id)}
    assert set(recorded) == set(end.handle.response_ids)
    assert all(o.deleted for o in recorded.values())
    assert all(i.settled for i in ledger.intents_of(harness.instance_id))


def test_a_last_response_teardown_cannot_delete_is_recorded_live_for_the_purge(
    responses_on_table: tuple[Harness, TableLedger],
) -> None:
    harness, ledger = responses_on_table
    end = harness.play(follow=FOLLOW)
    harness.emulator.configure(
        faults=[{"fault": "500", "count": 50, "route": "DELETE /responses/{response_id}"}]
    )

    report = harness.backend.teardown(end.handle)

    assert sorted(report.failed) == sorted(end.handle.response_ids)
    live = {o.object_id for o in ledger.undeleted() if o.instance_id == harness.instance_id}
    assert live == set(end.handle.response_ids)
    assert all(i.settled for i in ledger.intents_of(harness.instance_id))
    harness.emulator.configure(faults=[])
    again = harness.backend.teardown(end.handle)
    assert sorted(again.deleted) == sorted(end.handle.response_ids)
    assert all(o.deleted for o in ledger.objects_of(harness.instance_id))


def test_a_teardown_that_must_read_still_records_the_last_response(
    responses_on_table: tuple[Harness, TableLedger],
) -> None:
    """An attempt at the create after the last response (one the handle knows nothing
    of) took the key teardown closes: teardown reads, and records the last response."""
    harness, ledger = responses_on_table
    end = harness.play(follow=FOLLOW)
    last = end.handle.response_ids[-1]
    late = CreateIntent.first(
        harness.instance_id, submit_purpose(last), ObjectKind.RESPONSE, Backend.RESPONSES
    )
    assert ledger.record_intents([late])
    ledger.settle_intent(late, None)

    report = harness.backend.teardown(end.handle)

    assert sorted(report.deleted) == sorted(end.handle.response_ids)
    recorded = {o.object_id: o for o in ledger.objects_of(harness.instance_id)}
    assert recorded[last].deleted
    assert all(i.settled for i in ledger.intents_of(harness.instance_id))
    assert set(harness.live().values()) == {0}
