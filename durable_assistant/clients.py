"""The client factory: identity, retries and timeouts for Azure OpenAI, once per process.

Managed identity by default: `DefaultAzureCredential`, or the user-assigned identity
named by `AZURE_CLIENT_ID`, turned into bearer tokens for the Cognitive Services
scope (the provider caches and refreshes them). An API key is used only when
`AZURE_OPENAI_API_KEY` is set, for local development. The credential and clients
are built on first use by the composition root and reused by every invocation of
the process; the SDK's own
retry (`OPENAI_MAX_RETRIES`) absorbs short 429/5xx bursts. Secrets are never logged.

Two clients, because the two APIs live at different URLs:

- Assistants v2: `AzureOpenAI(azure_endpoint=..., api_version=...)` →
  `{endpoint}/openai/assistants?api-version=...`;
- Responses: `OpenAI(base_url=f"{endpoint}/openai/v1/")`, the v1 API without an
  api-version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from azure.core.credentials import TokenCredential
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from azure.identity import get_bearer_token_provider as _bearer_token_provider
from openai import AzureOpenAI, OpenAI

from durable_assistant.objects import ObjectKind
from durable_assistant.retry_wait import capped_http_client
from durable_assistant.settings import Settings

logger = logging.getLogger(__name__)

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"


@dataclass(frozen=True)
class ModelClients:
    """The SDK clients of one Azure OpenAI resource, one per API family."""

    assistants: AzureOpenAI
    responses: OpenAI

    def for_kind(self, kind: ObjectKind) -> OpenAI:
        """The client that can delete an object of this kind."""
        if kind in (ObjectKind.ASSISTANT, ObjectKind.THREAD):
            return self.assistants
        return self.responses


def build_credential(settings: Settings) -> TokenCredential:
    """The app's identity: a user-assigned one when AZURE_CLIENT_ID is set."""
    if settings.azure_client_id:
        return ManagedIdentityCredential(client_id=settings.azure_client_id)
    return DefaultAzureCredential()


def api_key_of(settings: Settings) -> str:
    """The API key, or "" when none is set (an empty or blank value means none)."""
    key = settings.azure_openai_api_key
    return key.get_secret_value().strip() if key is not None else ""


def token_provider(credential: TokenCredential) -> Callable[[], str]:
    """A callable giving a (cached, refreshed) bearer token for Azure OpenAI."""
    return _bearer_token_provider(credential, COGNITIVE_SERVICES_SCOPE)


def build_clients(settings: Settings, credential: TokenCredential | None = None) -> ModelClients:
    """Clients for the configured resource.

    With `credential` given, it is used (the app's shared identity; tests inject a
    stub). Otherwise the API key when AZURE_OPENAI_API_KEY is set, else a new
    managed-identity credential. A
    setting left empty (a cleared value, a template) means no key, not the key "".
    """
    secret = api_key_of(settings)
    if credential is None and secret:
        logger.info("Azure OpenAI at %s: using the API key (local/dev only)", settings.endpoint)
        return ModelClients(
            assistants=_assistants_client(settings, api_key=secret),
            responses=_responses_client(settings, secret, {"api-key": secret}),
        )
    if credential is None:
        credential = build_credential(settings)
    logger.info(
        "Azure OpenAI at %s: using managed identity%s",
        settings.endpoint,
        f" (client id {settings.azure_client_id})" if settings.azure_client_id else "",
    )
    tokens = token_provider(credential)
    return ModelClients(
        assistants=_assistants_client(settings, token_provider=tokens),
        responses=_responses_client(settings, tokens),
    )


def _assistants_client(
    settings: Settings,
    *,
    api_key: str | None = None,
    token_provider: Callable[[], str] | None = None,
) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=settings.endpoint,
        api_version=settings.openai_api_version,
        api_key=api_key,
        azure_ad_token_provider=token_provider,
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_seconds,
        http_client=capped_http_client(),
    )


def _responses_client(
    settings: Settings,
    api_key: str | Callable[[], str],
    headers: dict[str, str] | None = None,
) -> OpenAI:
    """The v1 endpoint takes the key, or a bearer token, as `Authorization: Bearer`.

    With the key it is also sent as `api-key` (which v1 takes too), so a refusal
    can tell the key from a managed-identity token (backends/errors.py).
    """
    return OpenAI(
        base_url=f"{settings.endpoint}/openai/v1/",
        api_key=api_key,
        default_headers=headers,
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_seconds,
        http_client=capped_http_client(),
    )
