"""The core tests' helpers: app settings for the emulator, a stub identity, and a
harness that drives one backend over the real SDK, step by step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AccessToken
from pydantic import AliasChoices

from durable_assistant.backends import NO_FOLLOW, Follow, ModelBackend
from durable_assistant.clients import ModelClients, build_clients
from durable_assistant.composition import AppServices, use_services
from durable_assistant.model import (
    Backend,
    RunPlan,
    RunStatus,
    StartInput,
    Step,
    SubmitInput,
    ToolResult,
)
from durable_assistant.objects import MemoryRecorder, ObjectRecorder
from durable_assistant.service import backend_for
from durable_assistant.settings import Settings
from durable_assistant.tools import default_registry
from durable_assistant.tools.builtin import SEED_QUESTION
from tests.support.emulator_sdk import EMULATOR_KEY

if TYPE_CHECKING:
    from emulator.testing import RunningEmulator


def setting_names() -> list[str]:
    """Every environment variable the settings read (aliases included), and the SDK's key."""
    names = {"OPENAI_API_KEY"}
    for field_name, info in Settings.model_fields.items():
        names.add(field_name.upper())
        if isinstance(info.validation_alias, AliasChoices):
            names.update(str(choice) for choice in info.validation_alias.choices)
    return sorted(names)


SETTING_NAMES = setting_names()


def reset_caches() -> None:
    """Forget the process-wide root: settings, credential, clients, recorder, tools."""
    use_services(None)


class StubCredential:
    """A `TokenCredential` that hands out a fixed token and counts the requests."""

    def __init__(self, token: str = "stub-token") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


DEPLOYMENT = "gpt-test"


SEED_TOOLS = ["get_flights", "my_cat_born_date"]


def emulator_settings(
    url: str, *, api_key: str | None = EMULATOR_KEY, **overrides: Any
) -> Settings:
    """Settings for a client of the emulator at `url` (fast retries, short timeouts)."""
    values: dict[str, Any] = {
        "azure_openai_endpoint": url,
        "azure_openai_deployment": DEPLOYMENT,
        "azure_openai_api_key": api_key,
        "openai_max_retries": 1,
        "openai_timeout_seconds": 10,
    }
    values.update(overrides)
    return Settings(**values)


# Fast defaults: a 429 asks for a 10 ms wait, so the SDK's retries cost nothing.
EMULATOR_CONTROLS: dict[str, Any] = {"retry_after": None, "retry_after_ms": 10}


def seed_start_input(
    kind: Backend,
    question: str = SEED_QUESTION,
    tools: list[str] | None = None,
    *,
    instance_id: str = "inst-test",
) -> StartInput:
    """The start activity's input for a question (the seed's by default)."""
    plan = RunPlan(
        question=question,
        backend=kind,
        instructions="Use the functions to answer.",
        tools=SEED_TOOLS if tools is None else tools,
        model=DEPLOYMENT,
        deadline_seconds=60,
        poll_initial_ms=50,
        poll_max_ms=200,
    )
    return StartInput(instance_id=instance_id, plan=plan)


@dataclass
class Harness:
    """One backend over real SDK clients talking to the emulator, step by step."""

    kind: Backend
    backend: ModelBackend
    clients: ModelClients
    recorder: ObjectRecorder
    emulator: RunningEmulator
    instance_id: str = "inst-test"

    def start_input(
        self, question: str = SEED_QUESTION, tools: list[str] | None = None
    ) -> StartInput:
        return seed_start_input(self.kind, question, tools, instance_id=self.instance_id)

    def start(
        self,
        question: str = SEED_QUESTION,
        tools: list[str] | None = None,
        follow: Follow = NO_FOLLOW,
    ) -> Step:
        return self.backend.start(self.start_input(question, tools), follow)

    def settle(self, step: Step, *, limit_seconds: float = 10.0) -> Step:
        """Poll until the run is no longer pending (the hint, capped, between polls)."""
        deadline = time.monotonic() + limit_seconds
        while step.state.status is RunStatus.PENDING:
            assert time.monotonic() < deadline, f"still pending after {limit_seconds}s"
            wait_ms = min(step.state.poll_after_ms or 20, 200)
            time.sleep(wait_ms / 1000)
            step = self.backend.poll(step.handle)
        return step

    def run_tools(self, step: Step) -> list[ToolResult]:
        """Run every call of a requires_action step with the real registry."""
        assert step.state.status is RunStatus.REQUIRES_ACTION, step.state
        return [
            default_registry.invoke(
                call, timeout_seconds=5, max_output_chars=8_000, instance_id=self.instance_id
            )
            for call in step.state.tool_calls
        ]

    def submit(self, step: Step, results: list[ToolResult], follow: Follow = NO_FOLLOW) -> Step:
        return self.backend.submit(SubmitInput(handle=step.handle, results=results), follow)

    def play(
        self, step: Step | None = None, *, max_steps: int = 10, follow: Follow = NO_FOLLOW
    ) -> Step:
        """Run the conversation to its end: settle, run the tools, submit, repeat
        (following each turn on its stream with `follow`)."""
        step = self.settle(step or self.start(follow=follow))
        for _ in range(max_steps):
            if step.state.status is not RunStatus.REQUIRES_ACTION:
                return step
            step = self.settle(self.submit(step, self.run_tools(step), follow))
        raise AssertionError(f"no end after {max_steps} steps: {step.state}")

    def live(self) -> dict[str, int]:
        return self.emulator.live()


def make_harness(
    kind: Backend,
    emu: RunningEmulator,
    settings: Settings,
    *,
    clients: ModelClients | None = None,
    recorder: ObjectRecorder | None = None,
) -> Harness:
    """A harness whose clients are built the way the app builds them (or are given),
    recording in memory unless given a recorder (the Table ledger, say)."""
    clients = clients or build_clients(settings)
    recorder = recorder or MemoryRecorder()
    root = AppServices(settings, clients=clients, recorder=recorder, registry=default_registry)
    backend = backend_for(kind, root)
    return Harness(kind=kind, backend=backend, clients=clients, recorder=recorder, emulator=emu)
