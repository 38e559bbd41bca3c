"""The plugin's public surface: the entry point vLLM loads and its opt-out switch."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from infersight.instrument.vllm import plugin as vllm_plugin


def test_all_is_pinned() -> None:
    assert vllm_plugin.__all__ == ["DISABLE_ENV", "disabled", "register"]
    assert vllm_plugin.DISABLE_ENV == "INFERSIGHT_VLLM_DISABLE"


def test_entry_point_is_declared_for_vllm() -> None:
    (ep,) = [e for e in entry_points(group="vllm.general_plugins") if e.name == "infersight"]
    assert ep.value == "infersight.instrument.vllm.plugin:register"
    assert ep.load() is vllm_plugin.register


def test_importing_the_plugin_starts_nothing_and_imports_no_vllm() -> None:
    code = ("import sys, threading; import infersight.instrument.vllm.plugin as p; "
            "assert 'vllm' not in sys.modules; assert threading.active_count() == 1; "
            "from opentelemetry import trace; assert type(trace.get_tracer_provider()).__name__.startswith('Proxy')")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
