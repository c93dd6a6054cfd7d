"""The HTTP transport of the app's Table clients (the ledger, the run event log).

azure-core's default transport is a `requests` session with ten pooled connections
that looks up the environment on every request. Both cost CPU the host's workers
could use for runs: many activities (and the event log's writers) talk to the table
at once, so with ten connections the rest are opened and thrown away after one
request, and the environment lookups (proxy variables and `NO_PROXY` matching, the CA
bundle variables, `.netrc`) take about a quarter of a plain upsert's CPU time. So each
Table client gets a session that keeps as many connections as there may be requests
at once and reads the environment once, here: the CA bundle `requests` would pick
(`REQUESTS_CA_BUNDLE`, else `CURL_CA_BUNDLE`) is set on the transport, and when there
is no proxy setting and no `.netrc` the per-request lookups are left out; with either,
they stay as azure-core has them.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

POOLED_CONNECTIONS = 64
"""Connections a Table client keeps open for reuse: more than the activities and event
log writers that may use it at once (host.json admits 32 activities)."""


def per_request_environment() -> bool:
    """Whether `requests` has to look at the environment for each request: a proxy
    setting (whose `NO_PROXY` depends on the host) or a `.netrc`."""
    if urllib.request.getproxies_environment():
        return True
    if os.environ.get("NETRC"):
        return True
    home = Path.home()
    return (home / ".netrc").exists() or (home / "_netrc").exists()


def ca_bundle() -> str | bool:
    """The certificates `requests` verifies against, as it reads them from the
    environment (True: its own bundle)."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def table_transport(connections: int = POOLED_CONNECTIONS) -> RequestsTransport:
    """A transport for one Table client: a `requests` session pooling `connections`
    connections, with urllib3's own retries off as azure-core sets them (its retry
    policy retries), and environment lookups per request only when they can matter."""
    session = requests.Session()
    session.trust_env = per_request_environment()
    adapter = HTTPAdapter(
        pool_maxsize=connections,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return RequestsTransport(
        session=session,
        session_owner=True,
        use_env_settings=session.trust_env,
        connection_verify=ca_bundle(),
    )
