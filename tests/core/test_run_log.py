"""A run's log lines: readable with the instance id up front, and queryable by field."""

from __future__ import annotations

import logging

import pytest

from durable_assistant.logging_setup import run_log


def test_a_run_log_line_names_the_instance_and_carries_it_as_a_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.run_log")
    with caplog.at_level(logging.INFO, logger="tests.run_log"):
        run_log(logger, "inst-7").info("created %s %s", "thread", "thread_1", extra={"a": 1})

    (record,) = caplog.records
    assert record.getMessage() == "instance inst-7: created thread thread_1"
    assert record.__dict__["instance_id"] == "inst-7"
    assert record.__dict__["a"] == 1
