"""`?wait=N`: the run's view as soon as its end is in the event log, the status
alone when the log cannot say (`durable_assistant.run_wait`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import pytest

from durable_assistant import run_wait
from durable_assistant.api import RunLinks, RunView
from durable_assistant.event_log import READ_LIMIT, MemoryEventStore, RunEvents
from durable_assistant.events import (
    MAX_ANSWER_CHARS,
    StoredEvent,
    end_event,
    phase_event,
    text_event,
)
from durable_assistant.model import (
    Backend,
    Outcome,
    Phase,
    RunResult,
    RuntimeStatus,
    Usage,
)
from durable_assistant.run_wait import STATUS_CHECK_SECONDS, view_now, view_when_done

RUN = "run-1"
LINKS = RunLinks(status="s", cancel="c", events="e")
STARTED = datetime.fromisoformat("2026-03-01T12:00:00+00:00")


def running(phase: Phase) -> RunView:
    return RunView(
        id=RUN, runtime_status=RuntimeStatus.RUNNING, done=False, phase=phase, links=LINKS
    )


def completed(answer: str) -> RunView:
    return RunView(
        id=RUN,
        runtime_status=RuntimeStatus.COMPLETED,
        done=True,
        phase=Phase.DONE,
        outcome=Outcome.COMPLETED,
        answer=answer,
        links=LINKS,
    )


class Status:
    """The orchestration's status as the durable client would report it, changed by
    the test; counts the reads."""

    def __init__(self, view: RunView | None) -> None:
        self.view = view
        self.reads = 0

    async def __call__(self) -> RunView | None:
        self.reads += 1
        return self.view


class UnreadableStore(MemoryEventStore):
    def read(self, instance_id: str, after: int, limit: int) -> list[StoredEvent]:
        raise ConnectionError("the table service went away")


def end_of(answer: str, outcome: Outcome = Outcome.COMPLETED) -> StoredEvent:
    result = RunResult(
        outcome=outcome,
        answer=answer if outcome is Outcome.COMPLETED else None,
        reason=None if outcome is Outcome.COMPLETED else "the model run failed",
        backend=Backend.RESPONSES,
        steps=2,
        usage=Usage(prompt_tokens=5, completion_tokens=3, total_tokens=8),
        started_at=STARTED,
        finished_at=STARTED,
    )
    event = end_event(result)
    return StoredEvent(seq=90_001, type=event.type, data=event.data)


def write(log: RunEvents, events: Sequence[StoredEvent]) -> None:
    log.write(RUN, events, first=False)


def test_the_wait_answers_when_the_end_is_written_while_the_orchestration_tears_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_wait, "STATUS_CHECK_SECONDS", 600.0)  # only the write can wake it
    log = RunEvents(MemoryEventStore())
    phase = phase_event(Phase.SUBMITTING, 2)
    write(log, [StoredEvent(seq=80_000, type=phase.type, data=phase.data)])
    status = Status(running(Phase.SUBMITTING))

    async def scenario() -> RunView | None:
        waiting = asyncio.create_task(view_when_done(status, lambda: log, RUN, 900))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        status.view = running(Phase.TEARING_DOWN)  # the episode that scheduled teardown
        write(log, [end_of("1860 flights")])  # the teardown activity's first write
        return await asyncio.wait_for(waiting, 30)

    view = asyncio.run(scenario())

    assert view is not None
    assert (view.done, view.runtime_status, view.phase) == (
        True,
        RuntimeStatus.RUNNING,
        Phase.TEARING_DOWN,
    )
    assert (view.outcome, view.answer, view.error, view.steps) == (
        Outcome.COMPLETED,
        "1860 flights",
        None,
        2,
    )
    assert view.usage.total_tokens == 8


class CountingStore(MemoryEventStore):
    """Counts the reads of the log, and notes where each began."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.afters: list[int] = []

    def read(self, instance_id: str, after: int, limit: int) -> list[StoredEvent]:
        self.reads += 1
        self.afters.append(after)
        return super().read(instance_id, after, limit)


def texts(count: int, slot: int = 1) -> list[StoredEvent]:
    """`count` text events of one activity, numbered in its slot."""
    events = [text_event(i, "x") for i in range(count)]
    return [
        StoredEvent(seq=slot * 10_000 + i, type=e.type, data=e.data) for i, e in enumerate(events)
    ]


def test_an_end_written_in_this_process_is_answered_without_reading_the_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_wait, "STATUS_CHECK_SECONDS", 600.0)  # only the write can wake it
    store = CountingStore()
    log = RunEvents(store)
    status = Status(running(Phase.SUBMITTING))

    async def scenario() -> RunView | None:
        waiting = asyncio.create_task(
            view_when_done(status, lambda: log, RUN, 900, just_started=True)
        )
        await asyncio.sleep(0.3)
        status.view = running(Phase.TEARING_DOWN)
        write(log, [end_of("1860 flights")])
        return await asyncio.wait_for(waiting, 30)

    view = asyncio.run(scenario())

    assert view is not None and view.done and view.answer == "1860 flights"
    assert (status.reads, store.reads) == (1, 0)  # the view's status; the end came with the wake


def test_a_look_while_tearing_down_shows_the_recorded_end_and_its_reason() -> None:
    log = RunEvents(MemoryEventStore())
    write(log, [end_of("", Outcome.FAILED)])

    view = asyncio.run(view_now(Status(running(Phase.TEARING_DOWN)), lambda: log, RUN))
    before_teardown = asyncio.run(view_now(Status(running(Phase.SUBMITTING)), lambda: log, RUN))

    assert view is not None and view.done and view.runtime_status is RuntimeStatus.RUNNING
    assert (view.outcome, view.answer, view.error) == (
        Outcome.FAILED,
        None,
        "the model run failed",
    )
    assert before_teardown is not None and not before_teardown.done


@pytest.mark.parametrize("reason", ["unreadable", "no log"])
def test_without_a_readable_log_the_wait_answers_from_the_status(reason: str) -> None:
    status = Status(running(Phase.WAITING_FOR_MODEL))

    def event_log() -> RunEvents:
        if reason == "no log":
            raise ValueError("no storage configured")
        return RunEvents(UnreadableStore())

    async def scenario() -> RunView | None:
        waiting = asyncio.create_task(view_when_done(status, event_log, RUN, 30))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        status.view = completed("1860 flights")
        return await waiting

    view = asyncio.run(scenario())

    assert view == completed("1860 flights")


def test_a_run_that_ends_without_an_end_event_is_answered_by_its_status() -> None:
    log = RunEvents(MemoryEventStore())
    status = Status(running(Phase.WAITING_FOR_MODEL))
    terminated = RunView(
        id=RUN,
        runtime_status=RuntimeStatus.TERMINATED,
        done=True,
        outcome=Outcome.CANCELLED,
        error="terminated",
        links=LINKS,
    )

    async def scenario() -> RunView | None:
        waiting = asyncio.create_task(view_when_done(status, lambda: log, RUN, 30))
        await asyncio.sleep(0.1)
        status.view = terminated
        return await asyncio.wait_for(waiting, 3 * STATUS_CHECK_SECONDS)

    assert asyncio.run(scenario()) == terminated


def test_an_answer_cut_short_in_the_log_waits_for_the_result() -> None:
    log = RunEvents(MemoryEventStore())
    whole = "x" * (MAX_ANSWER_CHARS + 10)
    write(log, [end_of(whole)])
    status = Status(running(Phase.TEARING_DOWN))

    async def scenario() -> RunView | None:
        waiting = asyncio.create_task(view_when_done(status, lambda: log, RUN, 30))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        status.view = completed(whole)
        return await waiting

    view = asyncio.run(scenario())

    assert view is not None and view.answer == whole


def test_a_wait_that_runs_out_answers_the_run_as_it_is() -> None:
    log = RunEvents(MemoryEventStore())
    status = Status(running(Phase.WAITING_FOR_MODEL))

    view = asyncio.run(view_when_done(status, lambda: log, RUN, 1))

    assert view == running(Phase.WAITING_FOR_MODEL)


def test_an_end_written_by_another_process_is_seen_at_a_status_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_wait, "STATUS_CHECK_SECONDS", 0.05)
    store = MemoryEventStore()
    log = RunEvents(store)  # this process's log: it never sees the write below
    status = Status(running(Phase.WAITING_FOR_MODEL))

    async def scenario() -> RunView | None:
        waiting = asyncio.create_task(view_when_done(status, lambda: log, RUN, 30))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        status.view = running(Phase.TEARING_DOWN)
        store.write(RUN, [end_of("1860 flights")], first=False)  # another instance's write
        return await asyncio.wait_for(waiting, 10)

    view = asyncio.run(scenario())

    assert view is not None and view.done and view.answer == "1860 flights"
    assert view.runtime_status is RuntimeStatus.RUNNING


def test_a_wait_for_a_run_just_started_reads_nothing_until_woken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_wait, "STATUS_CHECK_SECONDS", 600.0)
    log = RunEvents(MemoryEventStore())
    status = Status(running(Phase.STARTING))

    async def scenario() -> RunView | None:
        waiting = asyncio.create_task(
            view_when_done(status, lambda: log, RUN, 900, just_started=True)
        )
        await asyncio.sleep(0.3)
        assert status.reads == 0
        status.view = running(Phase.TEARING_DOWN)
        write(log, [end_of("1860 flights")])
        return await asyncio.wait_for(waiting, 30)

    view = asyncio.run(scenario())

    assert view is not None and view.done and view.answer == "1860 flights"
    assert status.reads == 1


def test_a_run_just_started_without_time_to_wait_is_read_at_once() -> None:
    status = Status(running(Phase.STARTING))

    view = asyncio.run(
        view_when_done(status, lambda: RunEvents(MemoryEventStore()), RUN, 0, just_started=True)
    )

    assert view == running(Phase.STARTING) and status.reads == 1


def test_looks_while_tearing_down_read_only_the_log_written_since_the_last() -> None:
    store = CountingStore()
    log = RunEvents(store)
    write(log, texts(5))
    status = Status(running(Phase.TEARING_DOWN))  # its end is not written yet

    async def scenario() -> RunView | None:
        waiting = asyncio.create_task(view_when_done(status, lambda: log, RUN, 30))
        while store.reads < 3:
            await asyncio.sleep(0.05)
        store.write(RUN, [end_of("1860 flights")], first=False)  # another instance's write
        return await asyncio.wait_for(waiting, 10)

    view = asyncio.run(scenario())

    assert view is not None and view.answer == "1860 flights"
    assert store.afters[0] == 0
    assert set(store.afters[1:]) == {10_004}  # the last event of the first read


def test_the_end_of_a_log_longer_than_one_read_is_found() -> None:
    log = RunEvents(MemoryEventStore())
    write(log, [*texts(READ_LIMIT + 10), end_of("1860 flights")])
    status = Status(running(Phase.TEARING_DOWN))

    view = asyncio.run(view_when_done(status, lambda: log, RUN, 5))

    assert view is not None and view.done and view.answer == "1860 flights"
