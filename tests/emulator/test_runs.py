"""Runs: every status of the life cycle, and the rules the service enforces."""

from __future__ import annotations

import time

import openai
import pytest
from openai import AzureOpenAI
from openai.types.beta.threads import Run
from openai.types.beta.threads.runs import RunStep

from emulator.testing import RunningEmulator
from tests.support.emulator_sdk import (
    FLIGHTS,
    QUESTION,
    TWO_CATS,
    answer,
    retrieve,
    start,
    strict,
)


def test_queued_then_requires_action_then_completed(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure)
    raw = azure.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    strict(Run, raw.http_response.json())
    waiting = raw.parse()

    assert run.status == "queued"
    assert run.usage is None
    assert run.expires_at == run.created_at + 600
    assert waiting.status == "requires_action"
    assert waiting.started_at is not None
    assert waiting.usage is not None
    submitted = answer(azure, waiting)
    assert submitted.status == "queued"
    assert submitted.required_action is None
    second = retrieve(azure, submitted)
    assert second.status == "requires_action"
    done = retrieve(azure, answer(azure, second))
    strict(
        Run,
        azure.beta.threads.runs.with_raw_response.retrieve(
            run.id, thread_id=thread.id
        ).http_response.json(),
    )
    assert done.status == "completed"
    assert done.completed_at is not None
    assert done.expires_at is None
    assert done.usage is not None
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    assert done.usage.total_tokens > waiting.usage.total_tokens
    message = azure.beta.threads.messages.list(thread.id).data[0]
    assert (message.role, message.run_id, message.assistant_id) == (
        "assistant",
        run.id,
        run.assistant_id,
    )


def test_in_progress_while_the_model_thinks(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    emu.configure(latency_ms=300)
    _, _, run = start(azure)

    assert retrieve(azure, run).status == "in_progress"
    time.sleep(0.35)
    assert retrieve(azure, run).status == "requires_action"


def test_parallel_calls_in_one_turn(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure, TWO_CATS)
    waiting = retrieve(azure, run)
    assert waiting.required_action is not None
    calls = waiting.required_action.submit_tool_outputs.tool_calls
    assert [c.function.arguments for c in calls] == ['{"cat_name": "Mike"}', '{"cat_name": "Tom"}']
    assert len({c.id for c in calls}) == 2

    done = retrieve(azure, answer(azure, waiting))
    assert done.status == "completed"
    text = azure.beta.threads.messages.list(thread.id).data[0].content[0].text.value  # type: ignore[union-attr]
    assert text == "Mike was born on 2015-04-24 and Tom on 2019-01-01."


def test_parallel_tool_calls_off_asks_one_call_at_a_time(azure: AzureOpenAI) -> None:
    _, _, run = start(azure, TWO_CATS, parallel_tool_calls=False)
    first = retrieve(azure, run)
    assert first.required_action is not None
    assert len(first.required_action.submit_tool_outputs.tool_calls) == 1
    second = retrieve(azure, answer(azure, first))
    assert second.required_action is not None
    assert second.required_action.submit_tool_outputs.tool_calls[0].function.arguments == (
        '{"cat_name": "Tom"}'
    )
    assert retrieve(azure, answer(azure, second)).status == "completed"


def test_a_tool_the_assistant_lacks_is_answered_in_words(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure, tools=[])
    done = retrieve(azure, run)
    assert done.status == "completed"
    text = azure.beta.threads.messages.list(thread.id).data[0].content[0].text.value  # type: ignore[union-attr]
    assert "my_cat_born_date" in text
    assert "not available" in text


def test_a_question_without_a_script_gets_the_fallback(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure, "What is the weather?")
    assert retrieve(azure, run).status == "completed"
    text = azure.beta.threads.messages.list(thread.id).data[0].content[0].text.value  # type: ignore[union-attr]
    assert text == "I have no script for this question: What is the weather?"


def test_no_message_or_second_run_while_a_run_is_active(azure: AzureOpenAI) -> None:
    assistant, thread, run = start(azure)
    with pytest.raises(openai.BadRequestError) as caught:
        azure.beta.threads.messages.create(thread.id, role="user", content="more")
    assert caught.value.body == {
        "message": f"Can't add messages to {thread.id} while a run {run.id} is active.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.BadRequestError) as second:
        azure.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert second.value.message.endswith(f"Thread {thread.id} already has an active run {run.id}.")


def test_outputs_must_answer_exactly_the_pending_calls(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure, TWO_CATS)
    waiting = retrieve(azure, run)
    assert waiting.required_action is not None
    ids = [c.id for c in waiting.required_action.submit_tool_outputs.tool_calls]
    submit = azure.beta.threads.runs.submit_tool_outputs

    with pytest.raises(openai.BadRequestError) as caught:
        submit(run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": ids[0], "output": "x"}])
    assert caught.value.message.endswith(f"Expected tool outputs for call_ids {ids}, got {ids[:1]}")
    with pytest.raises(openai.BadRequestError):
        submit(
            run.id,
            thread_id=thread.id,
            tool_outputs=[
                {"tool_call_id": ids[0], "output": "x"},
                {"tool_call_id": "call_unknown", "output": "y"},
            ],
        )
    assert retrieve(azure, run).status == "requires_action"  # nothing was taken


def test_outputs_are_refused_unless_the_run_waits_for_them(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure, "What is the weather?")
    assert retrieve(azure, run).status == "completed"
    with pytest.raises(openai.BadRequestError) as caught:
        azure.beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_x", "output": "1"}]
        )
    assert caught.value.message.endswith('Runs in status "completed" do not accept tool outputs.')


def test_a_waiting_run_expires_after_its_deadline(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    emu.configure(run_expiry_seconds=0.3)
    _, thread, run = start(azure)
    waiting = retrieve(azure, run)
    assert waiting.status == "requires_action"
    time.sleep(0.35)

    expired = retrieve(azure, run)
    assert expired.status == "expired"
    assert expired.required_action is None
    with pytest.raises(openai.BadRequestError) as caught:
        answer(azure, waiting)
    assert caught.value.message.endswith('Runs in status "expired" do not accept tool outputs.')
    azure.beta.threads.messages.create(thread.id, role="user", content="allowed again")


def test_cancel_goes_through_cancelling(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure)
    cancelling = azure.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status == "cancelling"
    cancelled = retrieve(azure, run)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None
    with pytest.raises(openai.BadRequestError) as caught:
        azure.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert caught.value.message.endswith("Cannot cancel run with status 'cancelled'.")


def test_cancel_a_run_waiting_for_outputs(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure)
    assert retrieve(azure, run).status == "requires_action"
    assert azure.beta.threads.runs.cancel(run.id, thread_id=thread.id).required_action is None
    assert retrieve(azure, run).status == "cancelled"


@pytest.mark.parametrize(
    ("outcome", "status", "code"),
    [
        ("failed", "failed", "server_error"),
        ("rate_limited", "failed", "rate_limit_exceeded"),
        ("expired", "expired", None),
        ("incomplete", "incomplete", None),
    ],
)
def test_forced_outcomes_by_header(
    azure: AzureOpenAI, outcome: str, status: str, code: str | None
) -> None:
    _, _, run = start(azure, headers={"x-emulator-run-outcome": outcome})
    ended = retrieve(azure, run)
    assert ended.status == status
    assert ended.usage is not None
    if code is None:
        assert ended.last_error is None
    else:
        assert ended.last_error is not None
        assert ended.last_error.code == code
        assert ended.failed_at is not None
    if status == "incomplete":
        assert ended.incomplete_details is not None


def test_outcome_rules_apply_to_the_next_runs_only(
    azure: AzureOpenAI, emu: RunningEmulator
) -> None:
    emu.configure(outcomes=[{"outcome": "failed", "count": 1}])
    _, _, first = start(azure)
    _, _, second = start(azure)
    assert retrieve(azure, first).status == "failed"
    assert retrieve(azure, second).status == "requires_action"


def test_run_fail_rate_with_a_seed_is_reproducible(
    azure: AzureOpenAI, emu: RunningEmulator
) -> None:
    def statuses() -> list[str]:
        emu.configure(run_fail_rate=0.5, seed=7)
        return [retrieve(azure, start(azure)[2]).status for _ in range(8)]

    first = statuses()
    assert set(first) == {"failed", "requires_action"}
    assert statuses() == first


def test_runs_list_update_and_create_and_run(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    assistant, thread, run = start(azure, "What is the weather?")
    assert retrieve(azure, run).status == "completed"
    second = azure.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    listed = azure.beta.threads.runs.list(thread.id)
    assert [r.id for r in listed.data] == [second.id, run.id]
    assert [r.id for r in azure.beta.threads.runs.list(thread.id, order="asc", limit=1)] == [
        run.id,
        second.id,
    ]
    updated = azure.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"k": "v"})
    assert updated.metadata == {"k": "v"}

    both = azure.beta.threads.create_and_run(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": QUESTION}]}
    )
    assert both.status == "queued"
    assert retrieve(azure, both).status == "requires_action"
    assert emu.counts()["live"]["runs"] == 3
    with pytest.raises(openai.NotFoundError):
        azure.beta.threads.runs.retrieve("run_missing", thread_id=thread.id)
    with pytest.raises(openai.NotFoundError) as caught:
        azure.beta.threads.runs.create(thread_id=thread.id, assistant_id="asst_missing")
    assert caught.value.message.endswith("No assistant found with id 'asst_missing'.")


def test_deleting_a_thread_forgets_its_runs(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    _, thread, run = start(azure)
    assert emu.counts()["live"]["runs"] == 1
    azure.beta.threads.delete(thread.id)
    assert emu.counts()["live"]["runs"] == 0
    with pytest.raises(openai.NotFoundError):
        retrieve(azure, run)


def test_the_poll_hint_header(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    _, thread, run = start(azure)
    raw = azure.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert raw.headers["openai-poll-after-ms"] == "5"
    emu.configure(poll_after_ms=None)
    raw = azure.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert "openai-poll-after-ms" not in raw.headers


def test_poll_helper_follows_the_hint(azure: AzureOpenAI, emu: RunningEmulator) -> None:
    emu.configure(latency_ms=200, poll_after_ms=20)
    assistant = azure.beta.assistants.create(model="gpt-4o")
    thread = azure.beta.threads.create(messages=[{"role": "user", "content": "Hello?"}])
    began = time.monotonic()

    run = azure.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)

    assert run.status == "completed"
    assert time.monotonic() - began < 0.9  # not the helper's default second between polls
    polls = emu.counts()["requests"]["GET /threads/{thread_id}/runs/{run_id}"]
    assert 3 <= polls <= 12  # about 200 ms of model time at one poll every 20 ms


def test_run_steps_record_calls_outputs_and_the_answer(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure)
    done = retrieve(azure, answer(azure, retrieve(azure, answer(azure, retrieve(azure, run)))))
    assert done.status == "completed"
    steps = azure.beta.threads.runs.steps
    raw = steps.with_raw_response.list(run.id, thread_id=thread.id, order="asc")
    for body in raw.http_response.json()["data"]:
        strict(RunStep, body)
    listed = raw.parse().data
    assert [(s.type, s.status) for s in listed] == [
        ("tool_calls", "completed"),
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    details = listed[1].step_details
    assert details.type == "tool_calls"
    call = details.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_flights"
    assert call.function.output == f'{{"flights": {FLIGHTS}}}'
    message = azure.beta.threads.messages.list(thread.id).data[0]
    last = steps.retrieve(listed[2].id, thread_id=thread.id, run_id=run.id)
    assert last.step_details.type == "message_creation"
    assert last.step_details.message_creation.message_id == message.id
    with pytest.raises(openai.NotFoundError):
        steps.retrieve("step_nope", thread_id=thread.id, run_id=run.id)


def test_a_cancelled_run_cancels_its_waiting_step(azure: AzureOpenAI) -> None:
    _, thread, run = start(azure)
    assert retrieve(azure, run).status == "requires_action"
    azure.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert retrieve(azure, run).status == "cancelled"
    [step] = azure.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.status == "cancelled"
    assert step.cancelled_at is not None
