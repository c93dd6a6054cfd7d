"""The purge's assistant listing against the emulator: every page, tags kept."""

from __future__ import annotations

import pytest

from durable_assistant.backends.base import tags_for
from durable_assistant.backends.listing import OpenAIAssistants
from durable_assistant.model import Backend
from emulator.testing import RunningEmulator
from tests.support.backends import DEPLOYMENT, emulator_settings, make_harness


def test_every_assistant_is_listed_across_pages_with_its_tags(
    emulator: RunningEmulator, clean_env: pytest.MonkeyPatch
) -> None:
    harness = make_harness(Backend.ASSISTANTS, emulator, emulator_settings(emulator.url))
    beta = harness.clients.assistants.beta
    ours = [
        beta.assistants.create(model=DEPLOYMENT, metadata=tags_for(f"inst-{n}")).id
        for n in range(3)
    ]
    someone_elses = beta.assistants.create(model=DEPLOYMENT, metadata={"team": "other"}).id

    listed = list(OpenAIAssistants(harness.clients.assistants, page_size=2).list_assistants())

    assert [a.assistant_id for a in listed] == [*ours, someone_elses]  # oldest first
    assert [a.is_ours for a in listed] == [True, True, True, False]
    assert [a.metadata.get("instance_id") for a in listed[:3]] == ["inst-0", "inst-1", "inst-2"]
    assert all(a.created_at.tzinfo is not None for a in listed)
    requests = harness.emulator.counts()["requests"]
    assert requests["GET /assistants"] == 2  # two pages of two
    for assistant_id in [*ours, someone_elses]:
        beta.assistants.delete(assistant_id)
