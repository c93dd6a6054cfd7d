"""Fixtures shared by every test folder: one Azurite for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localrun.stack import running_azurite


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """The connection string of an Azurite (in memory) started for this session."""
    with running_azurite() as connection_string:
        yield connection_string
