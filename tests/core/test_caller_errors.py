"""What a caller reads about an unexpected failure: where and what kind, not internals."""

from __future__ import annotations

from durable_assistant.run_loop import Ending, caller_text


class ActivityFailure(Exception):
    """An activity's failure as the durable SDK hands it to the orchestrator."""


STORAGE_DOWN = ActivityFailure(
    "Activity function 'start_run' failed: ServiceRequestError: <urllib3.connection."
    "HTTPConnection object at 0x7f>: Failed to establish a new connection: [Errno 111] "
    "Connection refused (host 127.0.0.1, port 10002) \n Traceback ..."
)


def test_an_internal_error_is_named_without_its_text() -> None:
    reason = Ending.failure(STORAGE_DOWN, run_started=False).reason

    assert reason is not None
    assert "start_run" in reason and "ServiceRequestError" in reason
    assert "127.0.0.1" not in reason and "10002" not in reason and "Errno" not in reason


def test_an_error_written_for_callers_keeps_its_message() -> None:
    error = ActivityFailure(
        "Activity function 'submit_tool_outputs' failed: ModelRequestError: Azure OpenAI "
        "rejected submitting tool outputs (400): bad ids \n details"
    )

    assert caller_text(error) == (
        "submit_tool_outputs: Azure OpenAI rejected submitting tool outputs (400): bad ids"
    )


def test_a_failure_of_the_orchestrations_own_code_is_kept() -> None:
    assert caller_text(ValueError("the state was written by a newer deploy")) == (
        "ValueError: the state was written by a newer deploy"
    )
