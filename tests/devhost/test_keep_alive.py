"""Idle connections stay open as the host's Kestrel keeps them, so clients that pool
connections (the durable client's aiohttp) never send on one being closed."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

from localrun.devhost_process import DevhostProcess

LONGER_THAN_UVICORNS_DEFAULT = 6.0
"""uvicorn closes a connection idle for 5 s unless told otherwise."""


def test_a_connection_idle_for_seconds_still_serves_the_next_request(
    host: DevhostProcess,
) -> None:
    address = urlsplit(host.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", "/")
        first = connection.getresponse()
        first.read()
        local = connection.sock.getsockname()
        time.sleep(LONGER_THAN_UVICORNS_DEFAULT)
        connection.request("GET", "/")
        second = connection.getresponse()
        second.read()
        assert connection.sock.getsockname() == local  # the same connection, not a new one
    finally:
        connection.close()
    assert (first.status, second.status) == (200, 200)
