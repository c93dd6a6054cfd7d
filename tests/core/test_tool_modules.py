"""Tools from modules of the user's own, named by the TOOL_MODULES app setting."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable_assistant import service
from durable_assistant.composition import services, use_services
from durable_assistant.model import ToolCall, ToolInvocation
from durable_assistant.settings import SettingsError
from durable_assistant.tools import default_registry

MODULE_SOURCE = '''
from durable_assistant.tools import tool


@tool
def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: What to say.
    """
    return text.upper() + "!"
'''


@pytest.fixture
def fresh_registry(app_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The app's registry unread, and no tool of these tests left registered afterwards."""
    use_services(None)
    yield app_env
    default_registry.unregister("shout")
    use_services(None)


@pytest.fixture
def tool_module(fresh_registry: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A never-imported package of the user's own with one tool module; its name."""
    package_name = f"mytools_{uuid.uuid4().hex[:8]}"
    package = tmp_path / package_name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "loud.py").write_text(MODULE_SOURCE)
    fresh_registry.syspath_prepend(str(tmp_path))
    yield f"{package_name}.loud"
    for name in (package_name, f"{package_name}.loud"):
        sys.modules.pop(name, None)


def test_tools_of_the_named_modules_join_the_builtin_ones(
    fresh_registry: pytest.MonkeyPatch, tool_module: str
) -> None:
    fresh_registry.setenv("TOOL_MODULES", f" {tool_module} , ")

    assert "shout" not in default_registry
    registry = services().registry

    assert {"shout", "get_flights", "my_cat_born_date"} <= set(registry.names())
    result = registry.invoke(
        ToolCall(call_id="c1", name="shout", arguments='{"text": "hi"}'),
        timeout_seconds=5,
        max_output_chars=100,
    )
    assert result.ok
    assert result.output == "HI!"


def test_the_tool_activity_runs_them_in_a_process_that_never_listed_tools(
    fresh_registry: pytest.MonkeyPatch, tool_module: str
) -> None:
    fresh_registry.setenv("TOOL_MODULES", tool_module)
    call = ToolCall(call_id="c2", name="shout", arguments='{"text": "again"}')

    result = service.run_tool(ToolInvocation(instance_id="i1", call=call, allowed_tools=["shout"]))

    assert result.ok, result.output
    assert result.output == "AGAIN!"


def test_without_the_setting_only_builtin_tools_are_there(
    fresh_registry: pytest.MonkeyPatch,
) -> None:
    assert "shout" not in services().registry.names()
    assert "get_flights" in services().registry.names()


def test_a_module_that_cannot_be_imported_is_a_settings_error_naming_it(
    fresh_registry: pytest.MonkeyPatch,
) -> None:
    fresh_registry.setenv("TOOL_MODULES", "no_such_module_anywhere")
    with pytest.raises(
        SettingsError, match="TOOL_MODULES: cannot import 'no_such_module_anywhere'"
    ):
        _ = services().registry


def test_a_value_that_is_not_module_names_is_refused(fresh_registry: pytest.MonkeyPatch) -> None:
    fresh_registry.setenv("TOOL_MODULES", "os; rm -rf /")
    with pytest.raises(SettingsError, match="TOOL_MODULES"):
        _ = services().registry
