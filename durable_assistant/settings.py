"""One typed settings object, read from app settings / the environment.

Names are the ones Azure users already know (`AZURE_OPENAI_ENDPOINT`, ...). Settings
are read lazily by the composition root (`composition.services().settings`), never
at import time: an import error would
make the Functions host load no function at all. A missing or invalid setting raises
`SettingsError` naming the setting.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, HttpUrl, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from durable_assistant.model import (
    DEFAULT_HISTORY_EVENT_LIMIT,
    DEFAULT_MAX_STEPS,
    MAX_DEADLINE_SECONDS,
    MIN_DEADLINE_SECONDS,
    MIN_HISTORY_EVENT_LIMIT,
    MIN_POLL_MS,
    Backend,
    validation_problems,
)

DEFAULT_INSTRUCTIONS = (
    "You are a helpful assistant. Use the provided functions to answer questions; "
    "call several at once when they do not depend on each other."
)

FOLLOW_SECONDS = 10.0
"""Default budget for following a model turn's stream (measured in bench/, docs/bench.md)."""


class SettingsError(RuntimeError):
    """Raised when app settings are missing or invalid; the message names them."""


class Settings(BaseSettings):
    """Every knob of the app, with the environment variable that sets it."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    # Azure OpenAI
    azure_openai_endpoint: HttpUrl
    azure_openai_deployment: str = Field(min_length=1)
    openai_api_version: str = "2024-05-01-preview"
    azure_openai_api_key: SecretStr | None = None  # local/dev only; managed identity otherwise
    azure_client_id: str | None = None  # user-assigned managed identity
    openai_max_retries: int = Field(default=2, ge=0, le=10)
    openai_timeout_seconds: float = Field(default=60.0, gt=0, le=600)

    # The run loop
    assistant_backend: Backend = Backend.RESPONSES
    assistant_instructions: str = DEFAULT_INSTRUCTIONS
    responses_background: bool = True
    poll_initial_ms: int = Field(default=250, ge=MIN_POLL_MS, le=60_000)
    poll_max_ms: int = Field(default=1_000, ge=MIN_POLL_MS, le=300_000)
    model_follow_seconds: float = Field(default=FOLLOW_SECONDS, ge=0, le=600)
    run_deadline_seconds: int = Field(default=600, ge=MIN_DEADLINE_SECONDS, le=MAX_DEADLINE_SECONDS)
    max_steps: int = Field(default=DEFAULT_MAX_STEPS, ge=1, le=1_000)
    history_event_limit: int = Field(
        default=DEFAULT_HISTORY_EVENT_LIMIT, ge=MIN_HISTORY_EVENT_LIMIT, le=10_000
    )

    # Tools
    tool_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    tool_output_max_chars: int = Field(default=8_000, ge=100, le=1_000_000)
    tool_modules: str = Field(default="", pattern=r"^[\w.,\s]*$")

    # Storage for the ledger: a connection string locally, managed identity in Azure.
    storage_connection_string: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("LEDGER_STORAGE_CONNECTION_STRING", "AzureWebJobsStorage"),
    )
    storage_account_name: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LEDGER_STORAGE_ACCOUNT", "AzureWebJobsStorage__accountName"),
    )
    storage_table_service_uri: HttpUrl | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "LEDGER_TABLE_SERVICE_URI", "AzureWebJobsStorage__tableServiceUri"
        ),
    )
    ledger_table_name: str = Field(
        default="assistantledger", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$"
    )
    events_table_name: str = Field(
        default="assistantevents", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$"
    )
    # Inside Azure's 230 s HTTP limit; a client reconnects with Last-Event-ID after it.
    events_stream_seconds: float = Field(default=200.0, gt=0, le=220)

    # The purge
    object_ttl_hours: float = Field(default=24.0, gt=0)
    history_retention_days: float = Field(default=7.0, gt=0)

    @model_validator(mode="after")
    def _poll_bounds(self) -> Settings:
        if self.poll_max_ms < self.poll_initial_ms:
            raise ValueError("POLL_MAX_MS must be at least POLL_INITIAL_MS")
        return self

    @property
    def tool_module_names(self) -> list[str]:
        """The modules named by `TOOL_MODULES`, in order."""
        return [name.strip() for name in self.tool_modules.split(",") if name.strip()]

    @property
    def endpoint(self) -> str:
        """The endpoint without a trailing slash."""
        return str(self.azure_openai_endpoint).rstrip("/")


def _setting_name(loc: tuple[int | str, ...]) -> str:
    field = str(loc[0]) if loc else ""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        return " or ".join(str(choice) for choice in alias.choices)
    return field.upper() or "settings"


def load_settings() -> Settings:
    """Read settings now; raise SettingsError naming every bad or missing setting."""
    try:
        return Settings()
    except ValidationError as error:
        problems = [
            f"{_setting_name(where)}: {message}"
            for where, message in validation_problems(error, {"missing": "is required but not set"})
        ]
        raise SettingsError("invalid app settings: " + "; ".join(problems)) from None
