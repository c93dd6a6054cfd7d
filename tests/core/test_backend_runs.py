"""Both backends against the emulator over HTTP, with the real SDK: runs, step by step."""

from __future__ import annotations

import json
from datetime import date

import pytest
from dateutil.relativedelta import relativedelta

from durable_assistant.backends import ModelRequestError
from durable_assistant.model import Backend, RunStatus, Usage
from durable_assistant.objects import ObjectKind
from emulator.testing import RunningEmulator
from tests.support.backends import Harness, emulator_settings, make_harness

EASTER_2021 = "2021-04-04"


def test_the_seed_scenario_step_by_step(harness: Harness) -> None:
    step = harness.settle(harness.start())

    # 1. the model asks for the cat's birth date
    assert step.state.status is RunStatus.REQUIRES_ACTION
    [call] = step.state.tool_calls
    assert call.name == "my_cat_born_date"
    assert json.loads(call.arguments) == {"cat_name": "Mike"}
    [born] = harness.run_tools(step)
    born_date = json.loads(born.output)["cat_born_date"]
    assert born_date == (date.today() - relativedelta(years=10)).isoformat()

    # 2. then for the flights between that date and Easter 2021
    step = harness.settle(harness.submit(step, [born]))
    assert step.state.status is RunStatus.REQUIRES_ACTION
    [call] = step.state.tool_calls
    assert call.name == "get_flights"
    assert json.loads(call.arguments) == {"date_1": born_date, "date_2": EASTER_2021}
    [flights] = harness.run_tools(step)
    count = json.loads(flights.output)["flights"]
    assert count == abs((date.fromisoformat(EASTER_2021) - date.fromisoformat(born_date)).days)

    # 3. and answers with the number the tool gave
    step = harness.settle(harness.submit(step, [flights]))
    assert step.state.status is RunStatus.COMPLETED
    assert step.state.answer is not None
    assert str(count) in step.state.answer
    assert step.state.usage is not None
    assert step.state.usage.total_tokens > 0

    # what was created is in the handle and the recorder, and only that is live
    handle = step.handle
    recorded = {(o.kind, o.object_id) for o in harness.recorder.objects_of(handle.instance_id)}
    if harness.kind is Backend.ASSISTANTS:
        assert handle.assistant_id and handle.thread_id and handle.run_id
        assert handle.created_assistant
        assert recorded == {
            (ObjectKind.ASSISTANT, handle.assistant_id),
            (ObjectKind.THREAD, handle.thread_id),
        }
        assert harness.live()["assistants"] == 1
        assert harness.live()["threads"] == 1
    else:
        assert len(handle.response_ids) == 3
        assert handle.response_id == handle.response_ids[-1]
        assert recorded == {(ObjectKind.RESPONSE, r) for r in handle.response_ids}
        assert harness.live()["responses"] == 3

    report = harness.backend.teardown(handle)
    assert sorted(report.deleted) == sorted(object_id for _, object_id in recorded)
    assert report.failed == []
    assert set(harness.live().values()) == {0}
    assert all(o.deleted for o in harness.recorder.objects_of(handle.instance_id))


def test_the_question_reaches_the_model(harness: Harness) -> None:
    step = harness.settle(harness.start(question="What is the weather like?", tools=[]))
    assert step.state.status is RunStatus.COMPLETED
    assert step.state.answer
    harness.backend.teardown(step.handle)
    assert set(harness.live().values()) == {0}


TWO_CATS = "When were my cats Mike and Tom born?"


def test_parallel_tool_calls_in_one_step(harness: Harness) -> None:
    step = harness.settle(harness.start(question=TWO_CATS))

    assert step.state.status is RunStatus.REQUIRES_ACTION
    calls = step.state.tool_calls
    assert [c.name for c in calls] == ["my_cat_born_date", "my_cat_born_date"]
    assert sorted(json.loads(c.arguments)["cat_name"] for c in calls) == ["Mike", "Tom"]
    assert len({c.call_id for c in calls}) == 2
    results = harness.run_tools(step)

    end = harness.settle(harness.submit(step, results))  # every output in one submission

    assert end.state.status is RunStatus.COMPLETED
    assert end.state.answer is not None
    born = json.loads(results[0].output)["cat_born_date"]
    assert end.state.answer.count(born) == 2
    harness.backend.teardown(end.handle)
    assert set(harness.live().values()) == {0}


def test_outputs_missing_for_a_parallel_call_are_a_clear_error(harness: Harness) -> None:
    step = harness.settle(harness.start(question=TWO_CATS))
    first, second = harness.run_tools(step)

    with pytest.raises(ModelRequestError, match=second.call_id) as caught:
        harness.submit(step, [first])

    assert caught.value.__cause__ is None
    still = harness.backend.poll(step.handle)
    assert still.state.status is RunStatus.REQUIRES_ACTION
    assert {c.call_id for c in still.state.tool_calls} == {first.call_id, second.call_id}
    end = harness.settle(harness.submit(step, [first, second]))
    assert end.state.status is RunStatus.COMPLETED
    harness.backend.teardown(end.handle)
    assert set(harness.live().values()) == {0}


def test_usage_adds_up_over_the_steps_without_double_counting(harness: Harness) -> None:
    step = harness.settle(harness.start())
    total = Usage()
    while step.state.status is RunStatus.REQUIRES_ACTION:
        total += step.state.usage or Usage()
        step = harness.settle(harness.submit(step, harness.run_tools(step)))
    assert step.state.status is RunStatus.COMPLETED
    total += step.state.usage or Usage()

    # what the service itself says the run (or each response of the chain) used
    handle = step.handle
    if harness.kind is Backend.ASSISTANTS:
        assert handle.thread_id and handle.run_id
        run = harness.clients.assistants.beta.threads.runs.retrieve(
            handle.run_id, thread_id=handle.thread_id
        )
        assert run.usage is not None
        billed = run.usage.total_tokens
    else:
        responses = [harness.clients.responses.responses.retrieve(r) for r in handle.response_ids]
        billed = sum(r.usage.total_tokens for r in responses if r.usage)
    assert total.total_tokens == billed > 0
    assert total.prompt_tokens + total.completion_tokens == total.total_tokens
    harness.backend.teardown(handle)


def test_a_pending_run_carries_the_service_poll_hint(harness: Harness) -> None:
    harness.emulator.configure(poll_after_ms=37, latency_ms=150)

    step = harness.start()
    polled = harness.backend.poll(step.handle)

    assert step.state.status is RunStatus.PENDING
    assert polled.state.status is RunStatus.PENDING
    assert (step.state.poll_after_ms, polled.state.poll_after_ms) == (37, 37)
    assert harness.settle(polled).state.status is RunStatus.REQUIRES_ACTION
    harness.backend.teardown(step.handle)


def test_no_hint_means_none(harness: Harness) -> None:
    harness.emulator.configure(latency_ms=150, poll_after_ms=None)
    step = harness.start()
    assert step.state.status is RunStatus.PENDING
    assert step.state.poll_after_ms is None
    harness.backend.teardown(step.handle)


def test_foreground_responses_need_no_polling(
    emulator: RunningEmulator, clean_env: pytest.MonkeyPatch
) -> None:
    settings = emulator_settings(emulator.url, responses_background=False)
    harness = make_harness(Backend.RESPONSES, emulator, settings)

    step = harness.start()

    assert step.state.status is RunStatus.REQUIRES_ACTION
    step = harness.submit(step, harness.run_tools(step))
    assert step.state.status is RunStatus.REQUIRES_ACTION
    step = harness.submit(step, harness.run_tools(step))
    assert step.state.status is RunStatus.COMPLETED
    assert emulator.counts()["requests"].get("GET /responses/{response_id}", 0) == 0
    harness.backend.teardown(step.handle)
    assert set(harness.live().values()) == {0}


@pytest.mark.parametrize("when", ["pending", "requires_action"])
def test_cancel_ends_the_run(harness: Harness, when: str) -> None:
    if when == "pending":
        harness.emulator.configure(latency_ms=5_000)
        step = harness.start()
    else:
        step = harness.settle(harness.start())
    assert step.state.status.value == when

    cancelled = harness.settle(harness.backend.cancel(step.handle))

    assert cancelled.state.status is RunStatus.CANCELLED
    assert cancelled.state.reason
    again = harness.backend.cancel(cancelled.handle)  # a retried cancel activity
    assert again.state.status is RunStatus.CANCELLED
    harness.backend.teardown(step.handle)
    assert set(harness.live().values()) == {0}


def test_cancel_after_the_end_says_how_it_ended(harness: Harness) -> None:
    end = harness.play()

    after = harness.backend.cancel(end.handle)

    assert after.state.status is RunStatus.COMPLETED
    assert after.state.answer == end.state.answer
    harness.backend.teardown(end.handle)


def test_a_resumed_start_creates_nothing_new(harness: Harness) -> None:
    start = harness.start_input()
    first = harness.settle(harness.backend.start(start))
    live = harness.live()

    again = harness.backend.start(start.model_copy(update={"handle": first.handle}))

    assert again.handle == first.handle
    assert again.state.status is RunStatus.REQUIRES_ACTION
    assert harness.live() == live
    harness.backend.teardown(first.handle)


def test_a_retried_submit_whose_first_reply_was_lost_starts_no_second_turn(
    harness: Harness,
) -> None:
    """Activities run at least once: the retry must find what the first attempt did."""
    step = harness.settle(harness.start())
    results = harness.run_tools(step)
    first = harness.submit(step, results)  # its reply never reached the orchestration
    live = harness.live()
    asked = harness.emulator.counts()["requests"]

    retried = harness.submit(step, results)  # the same input, again

    assert retried.handle.response_id == first.handle.response_id
    assert retried.handle.run_id == first.handle.run_id
    assert harness.live() == live
    # No second model turn (Assistants refuses a second submission by itself).
    now = harness.emulator.counts()["requests"]
    assert now.get("POST /responses", 0) == asked.get("POST /responses", 0)
    final = harness.play(retried)
    assert final.state.status is RunStatus.COMPLETED
    harness.backend.teardown(final.handle)
    assert set(harness.live().values()) == {0}


def test_what_the_service_was_asked_for(harness: Harness) -> None:
    """Model, instructions, tools and tags reach the service, on every step of the chain."""
    start = harness.start_input()
    plan = start.plan
    end = harness.play(harness.backend.start(start))
    assert end.state.status is RunStatus.COMPLETED
    tags = {"app": "durable-assistant", "instance_id": start.instance_id}

    handle = end.handle
    if harness.kind is Backend.ASSISTANTS:
        beta = harness.clients.assistants.beta
        assert handle.assistant_id and handle.thread_id
        assistant = beta.assistants.retrieve(handle.assistant_id)
        assert (assistant.model, assistant.instructions) == (plan.model, plan.instructions)
        assert sorted(t.function.name for t in assistant.tools if t.type == "function") == sorted(
            plan.tools
        )
        assert assistant.metadata == tags
        assert beta.threads.retrieve(handle.thread_id).metadata == tags
    else:
        assert len(handle.response_ids) == 3
        for response_id in handle.response_ids:
            response = harness.clients.responses.responses.retrieve(response_id)
            assert (response.model, response.instructions) == (plan.model, plan.instructions)
            names = sorted(t.name for t in response.tools if t.type == "function")
            assert names == sorted(plan.tools)
            assert response.metadata == tags
            assert response.background is True
    harness.backend.teardown(handle)
