"""The app's composition root: one object builds the settings, identity, clients,
ledger, recorder, run event log and tool registry, each on first use, and every function reaches
them through `services()`.

Why one object: these are the process-wide parts a Functions worker reuses across
invocations (a client keeps its connections, a credential its token cache). Built
lazily, nothing is read or connected at import time (an import error would make the
host load no function). Tests replace the whole root with `use_services(...)`
instead of clearing caches one by one.
"""

from __future__ import annotations

import importlib
import logging
from functools import cached_property

from azure.core.credentials import TokenCredential

from durable_assistant.clients import ModelClients, api_key_of, build_clients, build_credential
from durable_assistant.event_log import MemoryEventStore, RunEvents, TableEventStore
from durable_assistant.ledger import TableLedger, ledger_configured, table_client
from durable_assistant.objects import MemoryRecorder, ObjectRecorder
from durable_assistant.settings import Settings, SettingsError, load_settings
from durable_assistant.tools import ToolRegistry, default_registry

logger = logging.getLogger(__name__)


class AppServices:
    """The parts every function of the app shares, built on first use.

    Give any part to the constructor to use it instead of building one (tests).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        credential: TokenCredential | None = None,
        clients: ModelClients | None = None,
        recorder: ObjectRecorder | None = None,
        registry: ToolRegistry | None = None,
    ) -> None:
        for name, value in (
            ("settings", settings),
            ("credential", credential),
            ("clients", clients),
            ("recorder", recorder),
            ("registry", registry),
        ):
            if value is not None:
                self.__dict__[name] = value  # pre-fills the cached property

    @cached_property
    def settings(self) -> Settings:
        """The app settings, read once; `SettingsError` names every bad one."""
        return load_settings()

    @cached_property
    def credential(self) -> TokenCredential:
        """The app's identity, shared by the model clients and the ledger."""
        return build_credential(self.settings)

    @cached_property
    def clients(self) -> ModelClients:
        """The SDK clients: the API key when one is set, else the identity."""
        if api_key_of(self.settings):
            return build_clients(self.settings)
        return build_clients(self.settings, self.credential)

    @cached_property
    def ledger(self) -> TableLedger:
        """The Table ledger; ValueError when no storage is configured."""
        if self.settings.storage_connection_string is not None:
            return TableLedger.from_settings(self.settings)
        return TableLedger.from_settings(self.settings, credential=self.credential)

    @cached_property
    def recorder(self) -> ObjectRecorder:
        """Where backends write down what they create: the ledger when storage is set."""
        if ledger_configured(self.settings):
            return self.ledger
        logger.warning(
            "no storage account is configured: created objects are recorded in memory only, "
            "so the purge cannot find what a crashed run left behind"
        )
        return MemoryRecorder()

    @cached_property
    def run_events(self) -> RunEvents:
        """The runs' event logs: a table in the ledger's account, memory without one."""
        settings = self.settings
        if not ledger_configured(settings):
            logger.warning("no storage account is configured: run events are kept in memory only")
            return RunEvents(MemoryEventStore())
        credential = None if settings.storage_connection_string is not None else self.credential
        return RunEvents(
            TableEventStore(table_client(settings, settings.events_table_name, credential))
        )

    @cached_property
    def registry(self) -> ToolRegistry:
        """The built-in tools plus those of the modules the `TOOL_MODULES` setting names.

        `TOOL_MODULES` names modules of your own (comma-separated, importable from the
        app root) whose `@tool` functions join the built-in ones.
        """
        for name in self.settings.tool_module_names:
            try:
                importlib.import_module(name)
            except ImportError as error:
                raise SettingsError(
                    f"invalid app settings: TOOL_MODULES: cannot import {name!r} ({error})"
                ) from None
        return default_registry


_current: AppServices | None = None


def services() -> AppServices:
    """The process-wide root, created (empty, lazy) on first use."""
    global _current  # noqa: PLW0603 - the one process-wide root, by design
    if _current is None:
        _current = AppServices()
    return _current


def use_services(root: AppServices | None) -> None:
    """Replace the process-wide root whole (tests); None starts a fresh one lazily."""
    global _current  # noqa: PLW0603 - the one process-wide root, by design
    _current = root


def report_settings_problems() -> str | None:
    """Check the settings when the app loads and log what is wrong, naming each setting.

    Never raises: a failed import would make the host load no function at all, where
    this way the problem is in the start-up log and every request answers with it.
    """
    try:
        _ = services().settings
    except SettingsError as error:
        logger.error("%s (requests will fail until this is fixed)", error)
        return str(error)
    return None
