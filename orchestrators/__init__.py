"""Orchestrator functions: deterministic and thin; logic lives in the core.

`bp` carries the run orchestrator (`orchestrators.run`).
"""

from orchestrators.run import ORCHESTRATOR_NAME, bp, run_orchestration

__all__ = ["ORCHESTRATOR_NAME", "bp", "run_orchestration"]
