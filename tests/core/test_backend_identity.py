"""Identity against the emulator: managed-identity tokens work with no key; refusals are clear."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError

import activities
from durable_assistant import service
from durable_assistant.backends import CredentialsRejectedError
from durable_assistant.clients import COGNITIVE_SERVICES_SCOPE, build_clients
from durable_assistant.composition import AppServices, services, use_services
from durable_assistant.model import Backend, RunStatus
from durable_assistant.service import backend_for
from emulator.testing import RunningEmulator, running_emulator
from tests.support.backends import (
    DEPLOYMENT,
    Harness,
    StubCredential,
    emulator_settings,
    make_harness,
    seed_start_input,
)

TOKEN = "entra-token-the-emulator-requires"
BACKENDS = pytest.mark.parametrize("kind", list(Backend), ids=lambda b: b.value)


@pytest.fixture(scope="module")
def token_emulator() -> Iterator[RunningEmulator]:
    """An emulator that accepts only `Authorization: Bearer TOKEN` and refuses every key.

    Not the session's emulator: that one requires a key, and here a run that succeeds
    must prove the app sent its identity's token, which only an emulator without a key
    can show."""
    with running_emulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture
def identity_env(
    token_emulator: RunningEmulator, clean_env: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    """App settings for the token emulator with no key, so the app uses its identity."""
    token_emulator.reset()
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", token_emulator.url)
    clean_env.setenv("AZURE_OPENAI_DEPLOYMENT", DEPLOYMENT)
    clean_env.setenv("OPENAI_MAX_RETRIES", "0")
    return clean_env


def use_identity(monkeypatch: pytest.MonkeyPatch, credential: TokenCredential) -> None:
    """Make the app's identity `credential`: a root that holds it (the rest is built)."""
    use_services(AppServices(credential=credential))


@BACKENDS
@pytest.mark.parametrize("key", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_managed_identity_tokens_work_with_no_key_set(
    identity_env: pytest.MonkeyPatch,
    token_emulator: RunningEmulator,
    kind: Backend,
    key: str | None,
) -> None:
    if key is not None:  # an app setting present but left empty is no key either
        identity_env.setenv("AZURE_OPENAI_API_KEY", key)
    credential = StubCredential(TOKEN)
    use_identity(identity_env, credential)
    clients = services().clients  # the app's own path: no key → managed identity
    settings = emulator_settings(token_emulator.url, api_key=None)
    harness = make_harness(kind, token_emulator, settings, clients=clients)

    end = harness.play()
    assert end.state.status is RunStatus.COMPLETED
    report = harness.backend.teardown(end.handle)
    assert report.deleted
    assert report.failed == []
    assert credential.scopes
    assert set(credential.scopes) == {(COGNITIVE_SERVICES_SCOPE,)}
    assert set(token_emulator.live().values()) == {0}


@BACKENDS
def test_a_wrong_token_is_a_clear_error_not_a_stack_trace(
    identity_env: pytest.MonkeyPatch, token_emulator: RunningEmulator, kind: Backend
) -> None:
    wrong = "a-token-for-some-other-resource"
    use_identity(identity_env, StubCredential(wrong))
    payload = seed_start_input(kind).to_json()

    with pytest.raises(CredentialsRejectedError) as caught:
        activities.start_run(payload)

    message = str(caught.value)
    assert "401" in message
    assert "Cognitive Services OpenAI User" in message
    assert "AZURE_CLIENT_ID" in message
    assert wrong not in message
    assert TOKEN not in message
    # raised `from None`: no SDK exception chained to it
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    printed = "".join(traceback.format_exception(caught.value))
    assert "During handling" not in printed
    assert "direct cause" not in printed
    assert set(token_emulator.live().values()) == {0}


@BACKENDS
def test_an_identity_that_cannot_get_a_token_is_a_clear_error(
    identity_env: pytest.MonkeyPatch, token_emulator: RunningEmulator, kind: Backend
) -> None:
    class NoToken(StubCredential):
        def get_token(self, *scopes: str, **kwargs: object) -> Any:
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    use_identity(identity_env, NoToken())
    with pytest.raises(CredentialsRejectedError, match="az login") as caught:
        service.start_run(seed_start_input(kind))
    assert "failed to retrieve a token" in str(caught.value)
    assert caught.value.__cause__ is None
    assert sum(token_emulator.counts()["requests"].values()) == 0


@BACKENDS
def test_a_wrong_api_key_is_a_clear_error_without_the_key(
    emulator: RunningEmulator, clean_env: pytest.MonkeyPatch, kind: Backend
) -> None:
    wrong = "sk-wrong-key-0123456789"
    harness: Harness = make_harness(kind, emulator, emulator_settings(emulator.url, api_key=wrong))
    with pytest.raises(CredentialsRejectedError, match="AZURE_OPENAI_API_KEY") as caught:
        harness.start()
    assert "401" in str(caught.value)
    assert wrong not in str(caught.value)
    assert caught.value.__cause__ is None


@BACKENDS
def test_teardown_with_refused_credentials_reports_instead_of_raising(
    emulator: RunningEmulator, clean_env: pytest.MonkeyPatch, kind: Backend
) -> None:
    settings = emulator_settings(emulator.url)
    harness = make_harness(kind, emulator, settings)
    step = harness.settle(harness.start())
    created = [o.object_id for o in harness.recorder.objects_of(step.handle.instance_id)]
    locked_out = build_clients(emulator_settings(emulator.url, api_key="sk-nope"))
    refused = backend_for(
        kind, AppServices(settings, clients=locked_out, recorder=harness.recorder)
    )

    report = refused.teardown(step.handle)

    assert sorted(report.failed) == sorted(created)
    assert report.deleted == []
    assert not any(o.deleted for o in harness.recorder.objects_of(step.handle.instance_id))
    assert harness.backend.teardown(step.handle).failed == []  # the next try, with a good key
    assert set(emulator.live().values()) == {0}
