"""The HTTP auth level of the app, decided once when `function_app` is imported.

Trigger decorators are evaluated at import time, so the level cannot wait for the
settings object: it is read here from one environment variable, with a parse that
never raises (an import error would make the host load no function at all).

- Default: `FUNCTION` — every `/api/...` call needs a function key (`?code=` or
  the `x-functions-key` header).
- `HTTP_AUTH_ANONYMOUS=true` makes the routes anonymous, for local use only: it is
  ignored (with a warning) when the app runs in Azure App Service / Functions,
  recognised by `WEBSITE_INSTANCE_ID`, which the platform sets on every instance.
"""

import logging
from collections.abc import Mapping

import azure.functions as func

logger = logging.getLogger(__name__)

ANONYMOUS_SETTING = "HTTP_AUTH_ANONYMOUS"
AZURE_MARKER = "WEBSITE_INSTANCE_ID"
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def http_auth_level(environ: Mapping[str, str]) -> func.AuthLevel:
    """FUNCTION, or ANONYMOUS when the setting asks for it outside Azure."""
    asked = environ.get(ANONYMOUS_SETTING, "").strip().lower() in TRUE_VALUES
    if not asked:
        return func.AuthLevel.FUNCTION
    if environ.get(AZURE_MARKER):
        logger.warning(
            "%s is set but ignored: anonymous HTTP access is for local use only",
            ANONYMOUS_SETTING,
        )
        return func.AuthLevel.FUNCTION
    return func.AuthLevel.ANONYMOUS
