"""The Responses API backend, over the Azure OpenAI v1 endpoint.

start: one response for the question (background unless RESPONSES_BACKGROUND is
false), tagged with the app and instance. poll: `responses.retrieve`. A completed
response that holds `function_call` items is a step that requires action; submit
creates the next response with `previous_response_id` and every
`function_call_output` of the step (the new id joins the handle's chain).
teardown: every response of the chain, and any the recorder knows of.

Following (see `following.py`, background mode only: a foreground response stops
when its reader goes away): the response is created with `stream=True`; it is
recorded as soon as it asks for a tool, or outlives the reading (a response whose
turn ends the run is recorded by teardown), and its last event carries the
finished response, so no poll is needed. When the budget passes the stream is let
go and the response goes on; a stream that breaks falls back to one retrieve.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from openai import BadRequestError, OpenAI, Stream, omit
from openai.types.responses import FunctionToolParam, Response, ResponseInputParam

from durable_assistant.backends.base import (
    claim,
    claim_again,
    delete_all,
    distinct_calls,
    guarded,
    open_intents,
    poll_after_ms,
    record_created,
    sent_once,
    tags_for,
    warn_if_lost,
    without_sdk_retries,
)
from durable_assistant.backends.content_filter import (
    ANSWER,
    FILTERED,
    QUESTION,
    TOOL_OUTPUT,
    filtered_categories,
    filtered_state,
    is_filtered_request,
)
from durable_assistant.backends.following import (
    NO_FOLLOW,
    STREAM_BROKEN,
    Follow,
    Json,
    Timed,
    json_events,
    model_of,
)
from durable_assistant.logging_setup import run_log
from durable_assistant.model import (
    MAX_ANSWER_CHARS,
    Backend,
    RunHandle,
    RunState,
    RunStatus,
    StartInput,
    Step,
    SubmitInput,
    TeardownReport,
    ToolCall,
    Usage,
    short,
)
from durable_assistant.objects import INSTANCE_TAG_KEY, CreateIntent, ObjectKind, ObjectRecorder
from durable_assistant.tools.registry import ToolDefinition, ToolRegistry

logger = logging.getLogger(__name__)

KINDS = frozenset({ObjectKind.RESPONSE, ObjectKind.CONVERSATION})
START_PURPOSE = "response"
LOST_SUBMIT = (
    "the model service did not confirm the submission of the tool outputs (its reply "
    "was lost); they were not sent again, as that would start and bill a second model turn"
)
ENDING_EVENTS = frozenset({"response.completed", "response.failed", "response.incomplete"})
"""The events that carry the finished response."""
FOLLOWED_EVENTS = ENDING_EVENTS | {"response.created", "response.output_item.added"}
"""The events `_follow` acts on (text deltas go to the text hook on the way)."""


def function_tool(definition: ToolDefinition) -> FunctionToolParam:
    """A registry tool as a Responses function tool (not strict: defaults are allowed)."""
    return {
        "type": "function",
        "name": definition.name,
        "description": definition.description,
        "parameters": definition.parameters,
        "strict": False,
    }


class ResponsesBackend:
    """`ModelBackend` over the Responses API of an `OpenAI(base_url=.../openai/v1/)` client."""

    backend = Backend.RESPONSES

    def __init__(
        self,
        client: OpenAI,
        registry: ToolRegistry,
        recorder: ObjectRecorder,
        *,
        background: bool = True,
    ) -> None:
        self._client = client
        self._registry = registry
        self._recorder = recorder
        self._background = background

    def start(self, start: StartInput, follow: Follow = NO_FOLLOW) -> Step:
        handle = start.handle or RunHandle(backend=self.backend, instance_id=start.instance_id)
        if handle.response_id is not None:  # resumed after the first response exists
            return self.poll(handle)
        intent = self._intent(handle.instance_id, START_PURPOSE)
        if not claim(self._recorder, [intent]):  # an earlier attempt was here
            handle = self._adopt_recorded(handle)
            if handle.response_id is not None:
                return self.poll(handle)
            warn_if_lost(self._recorder, handle.instance_id, START_PURPOSE)
            intent = self._intent_again(handle.instance_id, START_PURPOSE)
        plan = start.plan
        return guarded(
            "starting a response",
            handle,
            lambda: self._create(
                handle,
                model=plan.model,
                instructions=plan.instructions,
                request=plan.question,
                tool_names=plan.tools,
                intent=intent,
                follow=follow,
            ),
        )

    def poll(self, handle: RunHandle) -> Step:
        return guarded("polling the response", handle, lambda: self._poll(handle))

    def submit(self, submit: SubmitInput, follow: Follow = NO_FOLLOW) -> Step:
        return guarded(
            "submitting tool outputs",
            submit.handle,
            lambda: self._submit(submit.handle, submit, follow),
        )

    def cancel(self, handle: RunHandle) -> Step:
        if handle.response_id is None:
            state = RunState(status=RunStatus.CANCELLED, reason="cancelled before the run began")
            return Step(handle=handle, state=state)
        return guarded("cancelling the response", handle, lambda: self._cancel(handle))

    def teardown(self, handle: RunHandle) -> TeardownReport:
        ids = list(dict.fromkeys([*handle.response_ids, *filter(None, [handle.response_id])]))
        ours = [(ObjectKind.RESPONSE, response_id) for response_id in ids]
        # The create that would come next: the answer to the newest response.
        purpose = submit_purpose(handle.response_id) if handle.response_id else START_PURPOSE
        closing = self._intent(handle.instance_id, purpose)
        left = (ObjectKind.RESPONSE, handle.unrecorded) if handle.unrecorded else None
        return delete_all(
            self._client, self._recorder, handle, ours, KINDS, closing=closing, unrecorded=left
        )

    def _intent(self, instance_id: str, purpose: str) -> CreateIntent:
        return CreateIntent.first(instance_id, purpose, ObjectKind.RESPONSE, self.backend)

    def _intent_again(self, instance_id: str, purpose: str) -> CreateIntent:
        intent = CreateIntent.new(instance_id, purpose, ObjectKind.RESPONSE, self.backend)
        claim_again(self._recorder, intent)
        return intent

    # -- operations, inside `guarded` --

    def _create(
        self,
        handle: RunHandle,
        *,
        model: str,
        instructions: str | None,
        request: str | ResponseInputParam,
        tool_names: list[str],
        intent: CreateIntent,
        previous_response_id: str | None = None,
        follow: Follow = NO_FOLLOW,
    ) -> Step:
        """Create one response of the chain (its intent claimed) and record it before
        anything else."""
        tools = [function_tool(d) for d in self._registry.definitions(tool_names)]
        turn = _Turn(model, instructions, tuple(tool_names))
        client = without_sdk_retries(self._client)  # see `sent_once`
        create = partial(
            client.responses.with_raw_response.create,
            model=model,
            instructions=instructions,
            input=request,
            tools=tools,
            store=True,
            metadata=tags_for(handle.instance_id),
            previous_response_id=previous_response_id if previous_response_id else omit,
        )
        try:
            if follow.enabled and self._background:
                streamed = sent_once(
                    self._recorder, intent, lambda: create(background=True, stream=True)
                )
                return self._follow(handle, json_events(streamed), follow, turn, intent)
            raw = sent_once(self._recorder, intent, lambda: create(background=self._background))
            response = raw.parse()
            state = self._state(response, raw.headers)
            _TURNS.remember(response.id, turn)
            if _ends_the_run(state):  # a foreground response that ended the run
                handle = handle.leaving_unrecorded(response.id, intent.attempt, intent.purpose)
                return Step(handle=handle, state=state)
            self._record(response.id, handle.instance_id, intent)
            return Step(handle=handle.with_response(response.id), state=state)
        except BadRequestError as error:
            if not is_filtered_request(error):
                raise
            what = TOOL_OUTPUT if previous_response_id else QUESTION
            return Step(handle=handle, state=filtered_state(what, filtered_categories(error)))

    def _poll(self, handle: RunHandle) -> Step:
        raw = self._client.responses.with_raw_response.retrieve(_response_id(handle))
        return Step(handle=handle, state=self._state(raw.parse(), raw.headers))

    def _follow(
        self,
        handle: RunHandle,
        stream: Stream[Json],
        follow: Follow,
        turn: _Turn,
        intent: CreateIntent,
    ) -> Step:
        """Read the response's events until it ends or the budget passes (then: pending).

        The response is recorded as soon as it is known to ask for a tool (its first
        function call) or to outlive this activity's reading; one whose turn ends the
        run is left to teardown, which records it with its deletion mark (one
        request fewer; see docs/ledger.md)."""
        created: str | None = None
        recorded = False

        def record() -> None:
            nonlocal recorded
            if created is not None and not recorded:
                self._record(created, handle.instance_id, intent)
                recorded = True

        def sift(event: Json) -> bool:
            """Text goes to the hook at once; only what `_follow` acts on goes on."""
            kind = event.get("type")
            if kind == "response.output_text.delta":
                follow.text(str(event.get("delta") or ""))
                return False
            return kind in FOLLOWED_EVENTS

        timed = Timed(stream, follow.seconds, stream.close, sift)
        try:
            for event in timed:
                kind = event["type"]
                if kind == "response.created" and created is None:
                    created = str(event["response"]["id"])
                    _TURNS.remember(created, turn)
                    handle = handle.with_response(created)
                elif kind == "response.output_item.added":
                    if event["item"].get("type") == "function_call":
                        record()
                elif kind in ENDING_EVENTS and created is not None:
                    state = self._state(model_of(Response, event["response"]), {})
                    if _ends_the_run(state) and not recorded:
                        left = handle.leaving_unrecorded(created, intent.attempt, intent.purpose)
                        return Step(handle=left, state=state)
                    record()
                    return Step(handle=handle, state=state)
        except STREAM_BROKEN as error:
            if created is None:
                raise
            record()
            run_log(logger, handle.instance_id).warning(
                "the stream of response %s broke (%s); retrieving it instead", created, error
            )
            return self._poll(handle)
        except BaseException:
            record()  # whatever stopped the reading, the response is on record
            raise
        if created is None:
            raise RuntimeError(f"instance {handle.instance_id}: the stream named no response")
        record()
        if timed.timed_out:
            return Step(handle=handle, state=RunState(status=RunStatus.PENDING))
        return self._poll(handle)  # it ended without its last event (cancelled)

    def _submit(self, handle: RunHandle, submit: SubmitInput, follow: Follow) -> Step:
        previous_id = _response_id(handle)
        purpose = submit_purpose(previous_id)
        # Read what the answered response was asked with before claiming the submit:
        # a claim that fails before the outputs are sent would block every retry.
        turn = _TURNS.get(previous_id) or self._turn_of(previous_id)
        intent = self._intent(handle.instance_id, purpose)
        if not claim(self._recorder, [intent]):  # an earlier attempt was here
            earlier = self._answer_of_an_earlier_attempt(handle)
            if earlier is not None:
                run_log(logger, handle.instance_id).info(
                    "outputs for %s were already submitted (response %s)", previous_id, earlier
                )
                return self._poll(handle.with_response(earlier))
            if open_intents(self._recorder, handle.instance_id, purpose):
                # An earlier attempt sent these outputs and its reply was lost: the turn
                # it may have started cannot be found (responses cannot be listed), and
                # sending them again would start, and bill, a second one.
                run_log(logger, handle.instance_id).warning(
                    "outputs for %s may have been submitted already; not sending them again",
                    previous_id,
                )
                state = RunState(status=RunStatus.FAILED, reason=LOST_SUBMIT)
                return Step(handle=handle, state=state)
            intent = self._intent_again(handle.instance_id, purpose)
        outputs: ResponseInputParam = [
            {"type": "function_call_output", "call_id": r.call_id, "output": r.output}
            for r in submit.results
        ]
        return self._create(
            handle,
            model=turn.model,
            instructions=turn.instructions,
            request=outputs,
            tool_names=list(turn.tool_names),
            intent=intent,
            previous_response_id=previous_id,
            follow=follow,
        )

    def _turn_of(self, response_id: str) -> _Turn:
        """What a response was asked with, read back from the service.

        `previous_response_id` carries the conversation but not the instructions,
        model or tools, so the next response of the chain needs them again.
        """
        previous = self._client.responses.retrieve(response_id)
        names = [
            t.name for t in previous.tools if t.type == "function" and t.name in self._registry
        ]
        instructions = previous.instructions if isinstance(previous.instructions, str) else None
        return _Turn(str(previous.model), instructions, tuple(names))

    def _adopt_recorded(self, handle: RunHandle) -> RunHandle:
        """The handle with the first response, when an earlier attempt of the start
        created and recorded it but its result was lost with the attempt."""
        for obj in self._recorder.objects_of(handle.instance_id):
            if obj.kind is ObjectKind.RESPONSE and not obj.deleted:
                run_log(logger, handle.instance_id).info(
                    "adopted response %s, created by an earlier attempt", obj.object_id
                )
                return handle.with_response(obj.object_id)
        return handle

    def _answer_of_an_earlier_attempt(self, handle: RunHandle) -> str | None:
        """The response an earlier attempt of this submit created, if its reply was lost.

        Activities run at least once: without this, a retry would start a second model
        turn from the same response (billed twice, one branch never torn down by id).
        The recorder knows every response the instance created.
        """
        known = set(handle.response_ids)
        for obj in self._recorder.objects_of(handle.instance_id):
            if obj.kind is not ObjectKind.RESPONSE or obj.deleted or obj.object_id in known:
                continue
            candidate = self._client.responses.retrieve(obj.object_id)
            if candidate.previous_response_id == handle.response_id:
                return obj.object_id
        return None

    def _cancel(self, handle: RunHandle) -> Step:
        current = self._poll(handle)
        if current.state.status is RunStatus.REQUIRES_ACTION:
            # Nothing runs server-side while we owe tool outputs: stopping is ours.
            state = RunState(
                status=RunStatus.CANCELLED, reason="cancelled while tools were pending"
            )
            return Step(handle=handle, state=state)
        if current.state.status is not RunStatus.PENDING:
            return current
        try:
            raw = self._client.responses.with_raw_response.cancel(_response_id(handle))
        except BadRequestError:
            return self._poll(handle)  # it ended meanwhile, or was not cancellable
        return Step(handle=handle, state=self._state(raw.parse(), raw.headers))

    # -- mapping --

    def _state(self, response: Response, headers: Mapping[str, str]) -> RunState:
        status = response.status
        usage = _usage(response)
        if status == "completed":
            calls = distinct_calls(
                (
                    ToolCall.from_model(item.call_id, item.name, item.arguments)
                    for item in response.output
                    if item.type == "function_call"
                ),
                str((response.metadata or {}).get(INSTANCE_TAG_KEY, "")),
            )
            if calls:
                return RunState(status=RunStatus.REQUIRES_ACTION, tool_calls=calls, usage=usage)
            answer = short(response.output_text, MAX_ANSWER_CHARS)
            return RunState(status=RunStatus.COMPLETED, answer=answer, usage=usage)
        if status == "failed":
            error = response.error
            reason = f"{error.code}: {error.message}" if error else "the response failed"
            return RunState(status=RunStatus.FAILED, reason=short(reason), usage=usage)
        if status == "cancelled":
            return RunState(
                status=RunStatus.CANCELLED, reason="the response was cancelled", usage=usage
            )
        if status == "incomplete":
            return _incomplete_state(response, usage)
        return RunState(status=RunStatus.PENDING, poll_after_ms=poll_after_ms(headers))

    def _record(
        self, response_id: str, instance_id: str, intent: CreateIntent | None = None
    ) -> None:
        record_created(
            self._client,
            self._recorder,
            ObjectKind.RESPONSE,
            response_id,
            instance_id=instance_id,
            backend=self.backend,
            intent=intent,
        )


def _incomplete_state(response: Response, usage: Usage | None) -> RunState:
    """An incomplete response: stopped by the content filter, or early for another reason."""
    details = response.incomplete_details
    why = details.reason if details and details.reason else "unknown reason"
    if why == FILTERED:
        return filtered_state(ANSWER, usage=usage)
    return RunState(
        status=RunStatus.INCOMPLETE, reason=f"the response stopped early: {why}", usage=usage
    )


@dataclass(frozen=True)
class _Turn:
    """What one response of a chain was asked with; the next response asks the same."""

    model: str
    instructions: str | None
    tool_names: tuple[str, ...]


class _RecentTurns:
    """The turns this process created lately, by response id (bounded, thread-safe).

    A submit usually runs in the process whose start or submit created the response
    it answers: then it needs no read of that response. Otherwise it reads it back.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._turns: OrderedDict[str, _Turn] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, response_id: str, turn: _Turn) -> None:
        with self._lock:
            self._turns[response_id] = turn
            self._turns.move_to_end(response_id)
            while len(self._turns) > self._size:
                self._turns.popitem(last=False)

    def get(self, response_id: str) -> _Turn | None:
        with self._lock:
            return self._turns.get(response_id)


_TURNS = _RecentTurns()


def _ends_the_run(state: RunState) -> bool:
    """Whether the run ends with this state: its response is the run's last."""
    return state.status.is_terminal


def submit_purpose(previous_response_id: str | None) -> str:
    """The intent purpose of the response that answers `previous_response_id`."""
    return f"response after {previous_response_id}"


def _response_id(handle: RunHandle) -> str:
    if handle.response_id is None:
        raise ValueError(f"instance {handle.instance_id}: the handle has no response yet")
    return handle.response_id


def _usage(response: Response) -> Usage | None:
    if response.usage is None:
        return None
    return Usage(
        prompt_tokens=response.usage.input_tokens,
        completion_tokens=response.usage.output_tokens,
        total_tokens=response.usage.total_tokens,
    )
