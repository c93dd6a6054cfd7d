"""The seed's two tools, with the seed's behaviour.

To add a tool, write one decorated function like these (here or in any module of
this package): typed parameters, a docstring the model reads, a JSON-able result.
"""

from __future__ import annotations

from datetime import date

from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta

from durable_assistant.tools.registry import ToolArgumentError, tool

SEED_QUESTION = "How many flights do we have between my cat Mike born date and Easter 2021?"
"""The seed scenario's question: these two tools answer it (the emulator's default
script plays it; `make run` asks it)."""


def parse_date(field: str, text: str) -> date:
    """A date in any format dateutil understands; a field-named error otherwise."""
    try:
        return date_parser.parse(text).date()
    except (ValueError, OverflowError) as error:
        raise ToolArgumentError(field, f"{text!r} is not a date I can read ({error})") from None


def ten_years_before(day: date) -> date:
    """The same calendar day ten years earlier (29 February becomes the 28th)."""
    return day - relativedelta(years=10)


@tool
def get_flights(date_1: str, date_2: str) -> dict[str, int]:
    """Get the number of flights between two dates.

    Args:
        date_1: The first date, in any common format.
        date_2: The second date, in any common format.
    """
    first = parse_date("date_1", date_1)
    second = parse_date("date_2", date_2)
    return {"flights": abs((second - first).days)}


@tool
def my_cat_born_date(cat_name: str) -> dict[str, str]:
    """Get the birth date of my cat.

    Args:
        cat_name: The cat's name.
    """
    return {"cat_born_date": ten_years_before(date.today()).isoformat()}
