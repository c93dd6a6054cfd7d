"""The local managed identity: azure-identity gets tokens from the emulator's endpoint,
the emulator accepts them, and refuses wrong or expired ones as Azure does."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import openai
import pytest
from azure.identity import ManagedIdentityCredential, get_bearer_token_provider
from openai import AzureOpenAI, OpenAI

from emulator.identity import REFUSED_BEARER_MESSAGE, issue
from emulator.testing import RunningEmulator, running_emulator
from tests.support.emulator_sdk import API_VERSION

SECRET = "local-identity-secret"
SCOPE = "https://cognitiveservices.azure.com/.default"


@pytest.fixture(scope="module")
def token_source() -> Iterator[RunningEmulator]:
    with running_emulator(token=SECRET, identity_header="identity-header-value") as emu:
        yield emu


@pytest.fixture
def identity(token_source: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    """The process looks like App Service: IDENTITY_ENDPOINT and IDENTITY_HEADER are set."""
    token_source.reset()
    for name, value in token_source.identity_env.items():
        monkeypatch.setenv(name, value)
    return token_source


def client_with(emu: RunningEmulator, token: str) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=emu.url,
        azure_ad_token_provider=lambda: token,
        api_version=API_VERSION,
        max_retries=0,
    )


def test_azure_identity_gets_a_token_the_emulator_accepts(identity: RunningEmulator) -> None:
    credential = ManagedIdentityCredential()
    token = credential.get_token(SCOPE)
    assert token.token.count(".") == 2  # a JSON Web Token
    assert token.expires_on > 0
    tokens = get_bearer_token_provider(credential, SCOPE)
    azure = AzureOpenAI(
        azure_endpoint=identity.url, azure_ad_token_provider=tokens, api_version=API_VERSION
    )
    assert azure.beta.assistants.create(model="m").object == "assistant"
    v1 = OpenAI(base_url=identity.url + "/openai/v1/", api_key=tokens)
    assert v1.responses.create(model="m", input="hi").status == "completed"


def test_the_endpoint_wants_the_identity_header(identity: RunningEmulator) -> None:
    url = identity.identity_env["IDENTITY_ENDPOINT"]
    query = "?api-version=2019-08-01&resource=https://cognitiveservices.azure.com"
    request = urllib.request.Request(url + query, headers={"X-IDENTITY-HEADER": "wrong"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 401
    good = urllib.request.Request(
        url + query, headers={"X-IDENTITY-HEADER": identity.identity_env["IDENTITY_HEADER"]}
    )
    with urllib.request.urlopen(good, timeout=5) as answer:
        body = json.loads(answer.read())
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["token_type"] == "Bearer"


@pytest.mark.parametrize(
    "token",
    [
        issue("another-secret", "https://cognitiveservices.azure.com", 1e10, 60)["access_token"],
        issue(SECRET, "https://cognitiveservices.azure.com", 1_000_000, 60)["access_token"],
        issue(SECRET, "https://management.azure.com", 1e10, 60)["access_token"],
        "not-a-token",
    ],
    ids=["wrong-signer", "expired", "wrong-audience", "garbage"],
)
def test_wrong_or_expired_tokens_get_azures_401(identity: RunningEmulator, token: str) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client_with(identity, token).beta.assistants.list()
    assert caught.value.status_code == 401
    assert caught.value.body == {"code": "401", "message": REFUSED_BEARER_MESSAGE}


def test_a_token_outlives_its_lifetime_then_is_refused(identity: RunningEmulator) -> None:
    identity.configure(token_lifetime_seconds=0)
    token = ManagedIdentityCredential().get_token(SCOPE).token
    with pytest.raises(openai.AuthenticationError):
        client_with(identity, token).beta.assistants.list()
