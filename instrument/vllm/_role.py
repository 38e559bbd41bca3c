"""Which vLLM process this is: the API server, the EngineCore or a Worker.

vLLM names its multiprocessing children (``EngineCore``/``EngineCore_DP<n>``,
``VllmWorker-<rank>``, ``ApiServer_<n>``/``APIServer_DPRank_<n>``); the first process of
``vllm serve`` is the API server. Helper subprocesses that also load plugins (the model
registry probe runs ``.../model_executor/models/registry.py``) get ``None``: nothing starts
there. An offline ``vllm.LLM(...)`` user process is the ``driver``.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence

API_SERVER = "api_server"
ENGINE_CORE = "engine_core"
WORKER = "worker"
DRIVER = "driver"
ROLES = (API_SERVER, ENGINE_CORE, WORKER, DRIVER)


def role_from_process_name(name: str) -> str | None:
    if name.startswith("EngineCore"):
        return ENGINE_CORE
    if name.startswith(("VllmWorker", "Worker")):
        return WORKER
    if name.lower().startswith("apiserver"):
        return API_SERVER
    return None


def detect_role(process_name: str | None = None, argv: Sequence[str] | None = None,
                has_parent: bool | None = None) -> str | None:
    """The role of the current process (arguments override what is read from the process)."""
    name = process_name if process_name is not None else multiprocessing.current_process().name
    args = list(sys.argv if argv is None else argv)
    parent = (multiprocessing.parent_process() is not None) if has_parent is None else has_parent
    role = role_from_process_name(name)
    if role is not None:
        return role
    if parent:
        return None  # a multiprocessing child vLLM does not name: not ours to instrument
    if "serve" in args[1:3] or any("entrypoints" in a and "api_server" in a for a in args[:3]):
        return API_SERVER
    first = (args[0] if args else "").replace("\\", "/")
    if first.endswith(".py") and "/vllm/" in first:
        return None  # a vLLM helper script run as a subprocess (model registry probe)
    return DRIVER


def child_role(parent_role: str) -> str | None:
    """What a forked child of ``parent_role`` is when it has no vLLM name (fork start method)."""
    return {API_SERVER: ENGINE_CORE, DRIVER: ENGINE_CORE, ENGINE_CORE: WORKER}.get(parent_role)


__all__ = ["API_SERVER", "DRIVER", "ENGINE_CORE", "ROLES", "WORKER", "child_role", "detect_role",
           "role_from_process_name"]
