"""A determinism guard for orchestrator code: what replays must not touch.

An orchestrator is replayed from history many times, on any worker; whatever it
computes must come out the same each time. So the orchestrators and the pure modules
they decide with may not read a clock, draw random numbers or ids, read the
environment or settings, sleep, or do I/O (files, sockets, HTTP, the OpenAI and Azure
SDKs): time is `context.current_utc_datetime`, ids `context.new_uuid()`, and I/O
belongs in activities. This test reads their source (AST) and names each offence.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GUARDED = sorted(
    [
        *(ROOT / "orchestrators").glob("*.py"),
        ROOT / "durable_assistant" / "run_loop.py",
        ROOT / "durable_assistant" / "polling.py",
        ROOT / "durable_assistant" / "model.py",
        ROOT / "durable_assistant" / "events.py",
    ]
)
"""The orchestrators and the pure modules their decisions come from."""

SIDE_EFFECTS_ONLY = {
    "durable_assistant.logging_setup": "logs, only when not replaying",
    "durable_assistant.telemetry": "records a run's trace once, never on replay",
}
"""Modules the orchestrators call for effects guarded by `is_replaying`, not decisions."""

FORBIDDEN_MODULES = {
    "time": "a clock (use context.current_utc_datetime)",
    "random": "randomness",
    "secrets": "randomness",
    "uuid": "random ids (use context.new_uuid())",
    "os": "the environment or the file system",
    "socket": "I/O",
    "subprocess": "I/O",
    "threading": "threads",
    "asyncio": "an event loop",
    "urllib": "I/O",
    "http": "I/O",
    "requests": "I/O",
    "httpx": "I/O",
    "aiohttp": "I/O",
    "openai": "the OpenAI SDK (call it from an activity)",
    "azure.identity": "the Azure SDK",
    "azure.data": "the Azure SDK",
    "azure.storage": "the Azure SDK",
    "azure.core": "the Azure SDK",
    "durable_assistant.settings": "settings, which can change between replays",
    "durable_assistant.composition": "the app's clients and settings",
    "durable_assistant.clients": "SDK clients",
    "durable_assistant.backends": "the backends' SDK calls",
    "durable_assistant.ledger": "the ledger's storage",
    "durable_assistant.service": "the services' I/O",
}

FORBIDDEN_ATTRIBUTES = {
    "now": "a clock",
    "utcnow": "a clock",
    "today": "a clock",
    "fromtimestamp": "a clock",
    "environ": "the environment",
    "getenv": "the environment",
    "sleep": "sleeping",
    "uuid4": "random ids",
    "uuid1": "random ids",
    "urandom": "randomness",
}

FORBIDDEN_CALLS = {
    "open": "file I/O",
    "input": "console I/O",
    "print": "console output (log when not replaying)",
    "eval": "running text as code",
    "exec": "running text as code",
    "__import__": "imports at run time",
    "get_settings": "settings",
    "services": "the app's clients and settings",
}

APP_ACCESSORS = {"get_settings", "services"}
"""Forbidden however they are reached (`settings.get_settings()` too)."""


def offences(source: str) -> list[str]:
    """Each forbidden import, attribute and call in `source`, with its line."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        line = getattr(node, "lineno", 0)
        for module in modules:
            for banned, why in FORBIDDEN_MODULES.items():
                if module == banned or module.startswith(f"{banned}."):
                    found.append(f"line {line}: imports {module}: {why}")
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f"line {node.lineno}: .{node.attr}: {FORBIDDEN_ATTRIBUTES[node.attr]}")
        if isinstance(node, ast.Call):
            name = (
                node.func.id
                if isinstance(node.func, ast.Name)
                else node.func.attr
                if isinstance(node.func, ast.Attribute) and node.func.attr in APP_ACCESSORS
                else None
            )
            if name in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: {name}(): {FORBIDDEN_CALLS[name]}")
    return sorted(set(found))


@pytest.mark.parametrize("path", GUARDED, ids=lambda p: str(p.relative_to(ROOT)))
def test_orchestrator_code_is_deterministic(path: Path) -> None:
    assert offences(path.read_text()) == []


def test_every_core_module_the_orchestrators_import_is_guarded_or_side_effect_only() -> None:
    guarded = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in GUARDED}
    imported = set()
    for path in (ROOT / "orchestrators").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "durable_assistant":
                imported |= {f"durable_assistant.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "durable_assistant."
            ):
                imported.add(str(node.module))
    assert imported, "the orchestrators import the core"
    assert imported <= guarded | set(SIDE_EFFECTS_ONLY), imported - guarded - set(SIDE_EFFECTS_ONLY)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("import time\nt = time.time()", "imports time"),
        ("from datetime import datetime\nnow = datetime.now()", ".now"),
        ("from datetime import datetime, UTC\nnow = datetime.now(UTC)", ".now"),
        ("import datetime\nd = datetime.date.today()", ".today"),
        ("import random\nx = random.random()", "imports random"),
        ("from uuid import uuid4\nx = uuid4()", "imports uuid"),
        ("import os\nx = os.environ['X']", "imports os"),
        ("from os import getenv\nx = getenv('X')", "imports os"),
        ("from durable_assistant.settings import get_settings", "settings"),
        ("from durable_assistant import settings\nx = settings.get_settings()", "get_settings"),
        ("x = open('/tmp/f').read()", "open()"),
        ("import requests", "imports requests"),
        ("from openai import OpenAI", "the OpenAI SDK"),
        ("from azure.identity import DefaultAzureCredential", "the Azure SDK"),
        ("import socket", "imports socket"),
        ("import asyncio\nasyncio.sleep(1)", ".sleep"),
    ],
)
def test_the_guard_names_each_kind_of_offence(source: str, words: str) -> None:
    assert any(words in offence for offence in offences(source)), offences(source)


def test_the_guard_lets_replay_safe_code_through() -> None:
    source = (
        "import azure.durable_functions as df\n"
        "from datetime import datetime, timedelta\n"
        "def f(context):\n"
        "    now = context.current_utc_datetime\n"
        "    return now + timedelta(seconds=1), context.new_uuid()\n"
    )
    assert offences(source) == []
