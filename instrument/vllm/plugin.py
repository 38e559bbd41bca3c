"""vLLM general plugin: infersight in every vLLM process, with no code change.

Installed with ``pip install "infersight[vllm]"`` next to vLLM; vLLM finds it through the
``vllm.general_plugins`` entry point and calls :func:`register` once in each process (API
server, EngineCore, Worker). What it starts there is described in ``docs/vllm.md``.

* Opt out: ``INFERSIGHT_VLLM_DISABLE=1`` (or leave ``infersight`` out of ``VLLM_PLUGINS``).
* Where data goes: ``INFERSIGHT_OTLP_ENDPOINT`` (OTLP/HTTP base URL of ``infersight collect``),
  else ``OTEL_EXPORTER_OTLP_ENDPOINT``, else vLLM's ``--otlp-traces-endpoint`` when it is an
  OTLP/HTTP ``/v1/traces`` URL, else ``http://127.0.0.1:4318``. vLLM's ``llm_request`` spans
  keep going where ``--otlp-traces-endpoint`` says.
* It never breaks vLLM: any failure while starting gives one WARNING and the plugin stays off.

This module imports only the standard library at import time; vLLM is never imported here.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

DISABLE_ENV = "INFERSIGHT_VLLM_DISABLE"
_FALSE = ("", "0", "false", "no", "off")


def disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in _FALSE


def register() -> None:
    """The ``vllm.general_plugins`` entry point (vLLM calls it once per process)."""
    if disabled():
        logger.info("infersight vLLM plugin disabled by %s", DISABLE_ENV)
        return
    try:
        from infersight.instrument.vllm._role import detect_role

        role = detect_role()
        if role is None:
            logger.debug("infersight vLLM plugin: helper process %d, nothing to start", os.getpid())
            return
        from infersight.instrument.vllm import _runtime as _vllm_runtime

        _vllm_runtime.start(role)
    except Exception as exc:  # never break vLLM startup
        logger.warning("infersight vLLM plugin off in process %d: %s: %s", os.getpid(),
                       type(exc).__name__, exc)
        try:
            from infersight.instrument.vllm import _runtime as _vllm_runtime

            _vllm_runtime.stop()
        except Exception:
            pass


__all__ = ["DISABLE_ENV", "disabled", "register"]
