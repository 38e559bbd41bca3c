"""infersight.demo: a reference model server with real, switchable faults.

An OpenAI-compatible FastAPI server around a small decoder that really computes every token
(NumPy by default), a payment table behind a bounded pool, caches, a downstream service, an
open-loop load generator and a labelled scenario runner. See ``docs/demo.md``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Lazy re-exports: ``infersight demo serve`` must set the BLAS thread count before NumPy loads.
_WHERE = {
    "ServerConfig": "_config", "Engine": "_engine", "GenRequest": "_engine", "PrefixCache": "_engine",
    "DemoConfigError": "_errors", "DemoError": "_errors", "DownstreamError": "_errors", "PoolTimeout": "_errors",
    "ProcessError": "_errors", "FAULTS": "_faults", "Fault": "_faults", "LoadConfig": "_load",
    "LoadSummary": "_load", "run_load": "_load", "KVCache": "_model", "ModelConfig": "_model",
    "NumpyDecoder": "_model", "ConnectionPool": "_pool", "SCENARIOS": "_scenario", "Scenario": "_scenario",
    "run_scenario": "_scenario", "create_app": "_server", "Tokenizer": "_tokenizer",
    "OpenLoopRequest": "_openloop", "RequestRecord": "_openloop", "run_open_loop": "_openloop",
    "write_requests_csv": "_openloop",
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module 'infersight.demo' has no attribute {name!r}")
    value = getattr(import_module(f"infersight.demo.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "FAULTS",
    "SCENARIOS",
    "DemoConfigError",
    "ConnectionPool",
    "DemoError",
    "DownstreamError",
    "Engine",
    "Fault",
    "GenRequest",
    "KVCache",
    "LoadConfig",
    "LoadSummary",
    "ModelConfig",
    "NumpyDecoder",
    "OpenLoopRequest",
    "PoolTimeout",
    "PrefixCache",
    "ProcessError",
    "RequestRecord",
    "Scenario",
    "ServerConfig",
    "Tokenizer",
    "create_app",
    "run_load",
    "run_open_loop",
    "run_scenario",
    "write_requests_csv",
]
