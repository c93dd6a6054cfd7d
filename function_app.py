"""The composition root: the Functions app and the blueprints it registers.

Nothing else happens here. Settings are read lazily by the functions themselves,
never at import time (an import error would make the host load no function); the
only value read now is the HTTP auth level, which the trigger decorators need
before any request (see `triggers/http_auth.py`). Besides, the SDKs' per-request
logging is quieted, bad or missing settings are logged (naming each), not raised,
and telemetry is set up from the environment (`durable_assistant.telemetry`).
"""

import os

import azure.durable_functions as df

import activities
import orchestrators
from durable_assistant.composition import report_settings_problems
from durable_assistant.logging_setup import quiet_sdk_loggers
from durable_assistant.telemetry import configure as configure_telemetry
from triggers import events_api, purge, runs_api
from triggers.http_auth import http_auth_level

configure_telemetry()
quiet_sdk_loggers()
report_settings_problems()
app = df.DFApp(http_auth_level=http_auth_level(os.environ))

app.register_functions(activities.bp)
app.register_functions(orchestrators.bp)
app.register_functions(runs_api.bp)
app.register_functions(events_api.bp)
app.register_functions(purge.bp)
