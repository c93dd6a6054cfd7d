"""Where backends write down the objects they create: one provider, one place to change.

The Table-storage ledger (`durable_assistant.ledger`) when the settings name a storage
account, so the purge and a retried teardown find every object even after a crash;
a process-wide `MemoryRecorder` otherwise (tests, runs without storage).
"""

from __future__ import annotations

import logging
from functools import lru_cache

from durable_assistant.ledger import get_ledger, ledger_configured
from durable_assistant.objects import MemoryRecorder, ObjectRecorder
from durable_assistant.settings import get_settings

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def get_recorder() -> ObjectRecorder:
    """The process-wide recorder of created objects."""
    if ledger_configured(get_settings()):
        return get_ledger()
    logger.warning(
        "no storage account is configured: created objects are recorded in memory only, "
        "so the purge cannot find what a crashed run left behind"
    )
    return MemoryRecorder()
