"""The seed tools keep the seed's behaviour, called directly and through the registry."""

from __future__ import annotations

import json
from datetime import date

import pytest
from dateutil.relativedelta import relativedelta

from durable_assistant.model import ToolCall
from durable_assistant.tools import ToolArgumentError, default_registry
from durable_assistant.tools.builtin import get_flights, my_cat_born_date, ten_years_before


def run(name: str, **arguments: str) -> tuple[bool, str]:
    result = default_registry.invoke(
        ToolCall(call_id="call_1", name=name, arguments=json.dumps(arguments)),
        timeout_seconds=5,
        max_output_chars=1_000,
        instance_id="inst-seed",
    )
    return result.ok, result.output


def test_the_seed_numbers() -> None:
    assert get_flights("2015-04-24", "2021-04-04") == {"flights": 2172}
    assert get_flights("2021-04-04", "2015-04-24") == {"flights": 2172}
    assert run("get_flights", date_1="2015-04-24", date_2="2021-04-04") == (
        True,
        '{"flights": 2172}',
    )


@pytest.mark.parametrize(
    "first",
    [
        "2015-04-24",
        "24 April 2015",
        "April 24, 2015",
        "Apr 24 2015",
        "04/24/2015",
        "2015/04/24",
        "20150424",
        "2015-04-24T18:30:00",
        "2015-04-24T23:30:00+02:00",
        "Friday, 24 April 2015",
    ],
)
def test_any_format_dateutil_reads(first: str) -> None:
    assert get_flights(first, "2021-04-04") == {"flights": 2172}


def test_the_same_day_is_zero() -> None:
    assert get_flights("2021-04-04", "4 April 2021") == {"flights": 0}


@pytest.mark.parametrize(
    ("date_1", "date_2", "field"),
    [("not a date", "2021-04-04", "date_1"), ("2021-04-04", "2021-13-45", "date_2")],
)
def test_a_bad_date_is_a_validation_style_error(date_1: str, date_2: str, field: str) -> None:
    with pytest.raises(ToolArgumentError) as raised:
        get_flights(date_1, date_2)
    assert raised.value.field == field
    ok, output = run("get_flights", date_1=date_1, date_2=date_2)
    assert not ok
    assert output.startswith(f"error: invalid arguments for get_flights: {field}: ")


def test_a_missing_date_names_the_field() -> None:
    ok, output = run("get_flights", date_1="2021-04-04")
    assert not ok
    assert "date_2: Field required" in output


def test_the_cat_was_born_ten_calendar_years_ago() -> None:
    expected = (date.today() - relativedelta(years=10)).isoformat()
    assert my_cat_born_date("Mike") == {"cat_born_date": expected}
    assert run("my_cat_born_date", cat_name="Mike") == (
        True,
        json.dumps({"cat_born_date": expected}),
    )


@pytest.mark.parametrize(
    ("today", "then"),
    [
        (date(2026, 11, 25), date(2016, 11, 25)),
        (date(2024, 2, 29), date(2014, 2, 28)),
        (date(2020, 1, 1), date(2010, 1, 1)),
    ],
)
def test_ten_years_before_is_calendar_years(today: date, then: date) -> None:
    assert ten_years_before(today) == then
