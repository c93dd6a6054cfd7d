"""The app's own identity path (DefaultAzureCredential → the App Service identity endpoint)
against the emulator's local token source: a token from the wrong identity, or one that
expired, is refused as Azure refuses it, and the app's error names the identity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import activities
from durable_assistant.backends import CredentialsRejectedError
from durable_assistant.composition import AppServices, use_services
from durable_assistant.model import Backend, RunStatus
from emulator.identity import REFUSED_BEARER_MESSAGE
from emulator.testing import RunningEmulator, running_emulator
from tests.support.backends import DEPLOYMENT, seed_start_input

BACKENDS = pytest.mark.parametrize("kind", list(Backend), ids=lambda b: b.value)


@pytest.fixture(scope="module")
def model() -> Iterator[RunningEmulator]:
    """The model service, accepting only the tokens its own identity endpoint signs."""
    with running_emulator(token="the-model-service-secret") as emu:
        yield emu


@pytest.fixture(scope="module")
def stranger() -> Iterator[RunningEmulator]:
    """Another token source: its tokens are signed with a secret the model does not trust."""
    with running_emulator(token="some-other-tenant-secret") as emu:
        yield emu


def as_app_service(
    env: pytest.MonkeyPatch, model: RunningEmulator, source: RunningEmulator
) -> None:
    """App settings with no key, and the identity endpoint of `source`."""
    model.reset()
    env.setenv("AZURE_OPENAI_ENDPOINT", model.url)
    env.setenv("AZURE_OPENAI_DEPLOYMENT", DEPLOYMENT)
    env.setenv("OPENAI_MAX_RETRIES", "0")
    for name, value in source.identity_env.items():
        env.setenv(name, value)
    use_services(AppServices())  # the app's own composition: DefaultAzureCredential


@BACKENDS
def test_the_identity_path_starts_a_run(
    clean_env: pytest.MonkeyPatch, model: RunningEmulator, kind: Backend
) -> None:
    as_app_service(clean_env, model, model)
    step = activities.start_run(seed_start_input(kind).to_json())
    assert step["state"]["status"] in {RunStatus.PENDING, RunStatus.REQUIRES_ACTION}


def refused(kind: Backend) -> str:
    with pytest.raises(CredentialsRejectedError) as caught:
        activities.start_run(seed_start_input(kind).to_json())
    assert caught.value.__cause__ is None
    return str(caught.value)


@BACKENDS
def test_a_token_of_the_wrong_identity_is_refused_naming_the_identity(
    clean_env: pytest.MonkeyPatch,
    model: RunningEmulator,
    stranger: RunningEmulator,
    kind: Backend,
) -> None:
    as_app_service(clean_env, model, stranger)
    message = refused(kind)
    assert "refused the managed identity's token (401)" in message
    assert REFUSED_BEARER_MESSAGE in message
    assert "AZURE_OPENAI_API_KEY" not in message
    assert set(model.live().values()) == {0}


@BACKENDS
def test_an_expired_token_is_refused_naming_the_identity(
    clean_env: pytest.MonkeyPatch, model: RunningEmulator, kind: Backend
) -> None:
    as_app_service(clean_env, model, model)
    model.configure(token_lifetime_seconds=0)
    message = refused(kind)
    assert "managed identity" in message
    assert "have expired" in message
    assert "AZURE_OPENAI_API_KEY" not in message
