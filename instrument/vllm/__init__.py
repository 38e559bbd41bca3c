"""The vLLM room: the ``vllm.general_plugins`` entry point (:mod:`.plugin`) and what it installs
in vLLM's processes (engine spans, GPU attribution, metrics bridge). See docs/vllm.md."""

__all__: list[str] = []
