"""Fixtures shared by every test folder: one Azurite for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.azurite import running_azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The connection string of an Azurite Table service started for this session."""
    with running_azurite(Path(tmp_path_factory.mktemp("azurite"))) as connection_string:
        yield connection_string
