"""What a run costs the ledger in Table requests, counted by a proxy in front of Azurite,
and the reads that only an attempt whose result was lost makes necessary."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import openai
import pytest

from bench.table_proxy import TableProxy, counting_tables
from durable_assistant.ledger import TableLedger
from durable_assistant.model import Backend, RunHandle, RunStatus
from durable_assistant.objects import ObjectKind
from emulator.testing import RunningEmulator
from tests.support.backends import Harness, emulator_settings, make_harness

LEDGER_REQUESTS = {Backend.ASSISTANTS: 3, Backend.RESPONSES: 7}
"""Per seed run (3 model turns, 2 tool steps). Assistants: the intents of the assistant
and the thread, the two objects with their intents settled, teardown's marks.
Responses, per response: its intent, then the response with its intent settled; and
teardown's marks."""


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


def ledger_requests(proxy: TableProxy, ledger: TableLedger) -> int:
    return proxy.by_table[ledger.table_name]


def test_a_seed_run_writes_each_batch_once_and_reads_nothing(
    counted: tuple[Harness, TableProxy, TableLedger],
) -> None:
    harness, proxy, ledger = counted
    before = ledger_requests(proxy, ledger)

    end = harness.play()
    report = harness.backend.teardown(end.handle)

    assert end.state.status is RunStatus.COMPLETED
    assert report.failed == []
    assert ledger_requests(proxy, ledger) - before == LEDGER_REQUESTS[harness.kind]
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
