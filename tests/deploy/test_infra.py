"""The Bicep template parses, hangs together, and sets exactly the settings the app reads."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from durable_assistant.settings import Settings
from tests.deploy.bicep import (
    INFRA,
    MAIN,
    ROOT,
    app_settings,
    bicep_files,
    decorator,
    modules,
    parameters,
    parse,
    parse_text,
    required_parameters,
)
from tests.support.function_index import index_app, raw_bindings

API = INFRA / "app" / "api.bicep"
SETTING_REFERENCE = re.compile(r"%([A-Za-z0-9_]+)%")

# Read by the Functions host, the Python worker and the telemetry exporters rather than
# by `Settings`: the host's storage connection by identity (`AzureWebJobsStorage__*`),
# telemetry to Application Insights with Entra ID authentication, and the worker's own
# Azure Monitor set-up (which durable_assistant/telemetry.py then uses).
HOST_PREFIXES = ("AzureWebJobsStorage__",)
HOST_SETTINGS = frozenset(
    {
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
        "PYTHON_THREADPOOL_THREAD_COUNT",
        "PYTHON_ENABLE_INIT_INDEXING",
    }
)
# `AzureFunctionsJobHost__a__b` overrides host.json's a.b: the host reads it.
HOST_JSON_OVERRIDE = "AzureFunctionsJobHost__"
SCHEDULER_CONNECTION = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"

# Flex Consumption rejects or ignores these: it takes them from `functionAppConfig`.
FLEX_REJECTED = frozenset(
    {
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_TIME_ZONE",
    }
)


def settings_names() -> dict[str, bool]:
    """Every environment variable `Settings` reads, and whether it is required."""
    names: dict[str, bool] = {}
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        choices = getattr(alias, "choices", None) or [field.upper()]
        for choice in choices:
            names[str(choice)] = info.is_required()
    return names


@cache
def referenced_settings() -> frozenset[str]:
    """The `%NAME%` settings host.json and the functions' bindings refer to."""
    text = (ROOT / "host.json").read_text(encoding="utf-8")
    for function in index_app({}).values():
        text += json.dumps(raw_bindings(function))
    return frozenset(SETTING_REFERENCE.findall(text))


def host_json() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    return loaded


def overrides_host_json(name: str) -> bool:
    """An override of a section host.json has (the key itself may be new to it)."""
    if not name.startswith(HOST_JSON_OVERRIDE):
        return False
    section: Any = host_json()
    *parents, _key = name.removeprefix(HOST_JSON_OVERRIDE).split("__")
    for part in parents:
        if not isinstance(section, dict) or part not in section:
            return False
        section = section[part]
    return isinstance(section, dict)


def template_variable(path: Path, name: str) -> Any:
    return parse(path)["variables"][name]["value"]


def read_by_the_app(name: str) -> bool:
    return (
        name in settings_names()
        or name in referenced_settings()
        or name in HOST_SETTINGS
        or name.startswith(HOST_PREFIXES)
        or overrides_host_json(name)
        or name == template_variable(API, "schedulerConnection")
    )


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    template = parse(path)
    assert template.get("parameters") or template.get("resources"), path


def test_the_parser_rejects_broken_bicep() -> None:
    broken = MAIN.read_text(encoding="utf-8").replace("param location string", "param location")
    with pytest.raises(Exception, match=r"(?i)unexpected"):
        parse_text(broken)


def test_every_module_gets_the_params_it_declares_and_no_others() -> None:
    for name, (target, given) in modules(MAIN).items():
        declared = set(parameters(target))
        assert set(given) <= declared, f"module {name} passes unknown params"
        missing = required_parameters(target) - set(given)
        assert not missing, f"module {name} misses required params {missing}"


def test_the_model_is_asked_for_with_a_current_default() -> None:
    params = parameters(MAIN)
    for name in ("openAiModelName", "openAiModelVersion", "openAiDeploymentSku"):
        assert params[name]["default"] is None, f"{name} has a default, so azd would not ask"
        default = decorator(params[name], "metadata")["azd"]["default"]
        assert default in decorator(params[name], "description")
    model = decorator(params["openAiModelName"], "metadata")["azd"]["default"]
    version = decorator(params["openAiModelVersion"], "metadata")["azd"]["default"]
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert example["AZURE_OPENAI_DEPLOYMENT"] == model
    deploy_doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert f"| `{model}` | `{version}` | GA |" in deploy_doc


def test_the_region_list_is_documented() -> None:
    regions = decorator(parameters(MAIN)["location"], "allowed")
    assert regions, "location needs @allowed regions"
    deploy_doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    listed = deploy_doc.split("### Regions", 1)[1].split("###", 1)[0]
    assert all(f"`{r}`" in listed for r in regions)


def test_one_api_version_default_everywhere() -> None:
    app_default = Settings.model_fields["openai_api_version"].default
    infra_default = parameters(MAIN)["openAiApiVersion"]["default"]
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    assert infra_default == app_default == example["OPENAI_API_VERSION"]
    for doc in ("deploy.md", "core.md"):
        text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
        versions = set(re.findall(r"20\d\d-\d\d-\d\d-preview", text))
        assert versions == {app_default}, (doc, versions)


def test_app_settings_are_what_the_app_reads() -> None:
    set_by_template = app_settings(API)
    needed = {name for name, required in settings_names().items() if required}
    needed |= referenced_settings()
    assert needed <= set_by_template, f"missing: {needed - set_by_template}"
    ignored = {name for name in set_by_template if not read_by_the_app(name)}
    assert not ignored, f"set but never read: {ignored}"
    assert not set_by_template & FLEX_REJECTED


def test_outputs_give_a_local_run_the_settings_of_the_deployed_app() -> None:
    outputs = set(parse(MAIN)["outputs"])
    app_read = set(settings_names()) | referenced_settings()
    # AZURE_CLIENT_ID names the app's identity: a developer's machine must not use it.
    # The storage connection is output as endpoints (AZURE_STORAGE_*_ENDPOINT): locally
    # it is Azurite, or the account with the developer's identity (docs/deploy.md).
    wanted = {
        name
        for name in app_settings(API) & app_read
        if name != "AZURE_CLIENT_ID" and not name.startswith("AzureWebJobsStorage")
    }
    assert wanted <= outputs, f"not output: {wanted - outputs}"


def test_example_local_settings_are_settings_the_app_reads() -> None:
    example = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    core_tools_only = {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}
    assert all(read_by_the_app(name) or name in core_tools_only for name in example)


def test_the_settings_table_lists_every_setting() -> None:
    core = (ROOT / "docs" / "core.md").read_text(encoding="utf-8")
    table = core.split("## Settings", 1)[1].split("### Identity", 1)[0]
    names = set(settings_names()) | referenced_settings() | app_settings(API)
    for name in names:
        short = "`__" + name.split("__", 1)[1] + "`" if "__" in name else ""
        assert f"`{name}`" in table or (short and short in table), name


def test_the_scheduler_settings_switch_host_json_to_it_by_identity() -> None:
    assert "storageProvider" in host_json()["extensions"]["durableTask"]
    overrides = template_variable(API, "schedulerOverrides")
    prefix = HOST_JSON_OVERRIDE + "extensions__durableTask__storageProvider__"
    assert overrides[prefix + "type"] == "azureManaged"
    connection = template_variable(API, overrides[prefix + "connectionStringName"])
    assert connection == SCHEDULER_CONNECTION
    value = overrides[connection]
    assert value.startswith("Endpoint=${durableTaskSchedulerEndpoint};")
    assert "Authentication=ManagedIdentity;ClientID=${identityClientId}" in value
    backends = decorator(parameters(MAIN)["durableBackend"], "allowed")
    assert backends == ["AzureStorage", "DurableTaskScheduler"]
    assert parameters(MAIN)["durableBackend"]["default"] == "AzureStorage"


def test_scheduler_history_retention_matches_the_apps_purge() -> None:
    days = parameters(MAIN)["durableHistoryRetentionDays"]["default"]
    assert days == Settings.model_fields["history_retention_days"].default
    assert parameters(INFRA / "app" / "scheduler.bicep")["retentionDays"]["default"] == days


def test_concurrency_follows_the_instance_size() -> None:
    sizes = decorator(parameters(API)["instanceMemoryMB"], "allowed")
    by_memory = {
        int(key.strip("'")): value
        for key, value in template_variable(API, "concurrencyByMemory").items()
    }
    assert sorted(by_memory) == sorted(sizes)
    assert [by_memory[size] for size in sorted(sizes)] == sorted(by_memory.values())
    durable = host_json()["extensions"]["durableTask"]
    default = by_memory[parameters(API)["instanceMemoryMB"]["default"]]
    assert durable["maxConcurrentActivityFunctions"] == default
    assert durable["maxConcurrentOrchestratorFunctions"] == default


def test_the_parameters_file_names_only_template_parameters() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(parameters(MAIN))
    assert given["durableBackend"]["value"] == "${DURABLE_BACKEND=AzureStorage}"
