"""Where telemetry goes is decided by the environment, once per process.

Each case runs in a fresh interpreter: OpenTelemetry's global providers can be set
only once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
from opentelemetry import trace
from durable_assistant import telemetry
if sys.argv[1] == "preinstalled":
    from opentelemetry.sdk.trace import TracerProvider
    trace.set_tracer_provider(TracerProvider())
destination = telemetry.configure()
again = telemetry.configure()
with telemetry.tracer().start_as_current_span("probe") as span:
    recording = span.is_recording()
provider = trace.get_tracer_provider()
if hasattr(provider, "force_flush"):
    provider.force_flush()
print(json.dumps({"destination": destination, "again": again, "recording": recording}))
"""


def configure_in_a_fresh_process(case: str, **env: str) -> tuple[dict[str, object], str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATION"))}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, case],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    *printed, last = done.stdout.strip().splitlines()
    return json.loads(last), "\n".join(printed)


def test_no_setting_means_no_tracing() -> None:
    found, _ = configure_in_a_fresh_process("plain")
    assert found == {"destination": "none", "again": "none", "recording": False}


def test_the_console_exporter_prints_the_apps_spans() -> None:
    found, printed = configure_in_a_fresh_process(
        "plain", OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="probe-service"
    )
    assert found == {"destination": "console", "again": "console", "recording": True}
    assert '"name": "probe"' in printed
    assert '"service.name": "probe-service"' in printed


def test_a_provider_already_installed_is_used_as_it_is() -> None:
    """In Azure the Python worker installs Azure Monitor before it imports the app."""
    found, _ = configure_in_a_fresh_process("preinstalled", OTEL_TRACES_EXPORTER="console")
    assert found == {"destination": "existing", "again": "existing", "recording": True}
