"""`Timed`: a followed stream's budget, and the sift that keeps events from its reader."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from durable_assistant.backends.following import Timed


def test_the_reader_gets_only_what_the_sift_lets_through_in_order() -> None:
    seen_by_sift: list[int] = []

    def sift(event: int) -> bool:
        seen_by_sift.append(event)
        return event % 2 == 0

    closed = threading.Event()
    timed = Timed(iter(range(7)), 10.0, closed.set, sift)
    assert list(timed) == [0, 2, 4, 6]
    assert seen_by_sift == list(range(7))
    assert not timed.timed_out
    assert closed.is_set()


def test_the_sift_is_not_called_once_the_budget_has_let_the_stream_go() -> None:
    release = threading.Event()
    sifted_after_stop = threading.Event()
    stopped = threading.Event()

    def events() -> Iterator[str]:
        yield "first"
        release.wait(10)  # a silent stream, until the reader has let it go
        yield "late"

    def sift(event: str) -> bool:
        if stopped.is_set():
            sifted_after_stop.set()
        return True

    def close() -> None:
        stopped.set()
        release.set()

    timed = Timed(events(), 0.2, close, sift)
    assert list(timed) == ["first"]
    assert timed.timed_out
    assert not sifted_after_stop.wait(0.5)


def test_an_error_of_the_sift_is_raised_to_the_reader() -> None:
    def sift(event: int) -> bool:
        raise ValueError("a bad event")

    with pytest.raises(ValueError, match="a bad event"):
        list(Timed(iter([1]), 10.0, lambda: None, sift))
