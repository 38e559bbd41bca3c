"""Moved to :mod:`infersight.instrument.vllm.plugin` (the entry point vLLM loads); kept so an
install whose entry point still names this module keeps working."""

from infersight.instrument.vllm.plugin import DISABLE_ENV, disabled, register

__all__ = ["DISABLE_ENV", "disabled", "register"]
