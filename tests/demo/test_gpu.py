"""GPU faults at the model level (run on a CUDA machine: ``pytest -m gpu tests/demo/test_gpu.py``).

``gpu_idle``: the same model on the CPU while a GPU is present leaves the GPU with no work and
decodes slower; ``gpu_contention``: a co-located burner process slows the model's GPU steps.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pytest
from infersight.demo import Engine, ModelConfig, NumpyDecoder, Tokenizer

pytestmark = pytest.mark.gpu
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)

from infersight.demo._gpu import GpuBurner  # noqa: E402
from infersight.demo._torch_model import TorchDecoder  # noqa: E402

TOK = Tokenizer()
BIG = ModelConfig(vocab_size=TOK.vocab_size, d_model=1024, n_layers=8, n_heads=16, d_ff=4096, max_seq=1024,
                  n_special=4)


def _step_times(model: TorchDecoder, steps: int = 40) -> list[float]:
    cache = model.new_cache()
    model.forward(TOK.encode("warm up the kernels " * 8), cache)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        model.forward([100 + i], cache)  # returns logits on the host: includes the sync
        times.append(time.perf_counter() - t0)
    return times


def _prefill_times(model: TorchDecoder, n: int = 10) -> list[float]:
    ids = (TOK.encode("Summarize the account activity and list the largest payments. ") * 64)[:768]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        model.forward(ids, model.new_cache())
        times.append(time.perf_counter() - t0)
    return times


def test_cuda_backend_matches_numpy() -> None:
    cfg = ModelConfig(vocab_size=TOK.vocab_size, d_model=64, n_layers=2, n_heads=4, d_ff=128, n_special=4)
    ids = TOK.encode("The merchant can respond with evidence such as receipts.")
    ref, gpu = NumpyDecoder(cfg), TorchDecoder(cfg, device="cuda")
    np.testing.assert_allclose(gpu.forward(ids, gpu.new_cache(), all_logits=True),
                               ref.forward(ids, ref.new_cache(), all_logits=True), rtol=2e-3, atol=2e-3)
    prompt = TOK.apply_chat_template([{"role": "user", "content": "Why was my card declined? " * 4}])
    a, b = Engine(gpu).generate(prompt, 8), Engine(gpu).generate(prompt, 8)
    assert a.output_ids == b.output_ids


def test_gpu_idle_model_on_cpu_leaves_the_gpu_unused_and_decodes_slower() -> None:
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    cpu = TorchDecoder(BIG, device="cpu")
    assert torch.cuda.memory_allocated() == before  # nothing of the model is on the GPU
    gpu = TorchDecoder(BIG, device="cuda")
    assert torch.cuda.memory_allocated() > before
    t_cpu, t_gpu = statistics.median(_step_times(cpu, 10)), statistics.median(_step_times(gpu))
    print(f"decode step: cpu {t_cpu * 1e3:.2f} ms, cuda {t_gpu * 1e3:.2f} ms")
    assert t_cpu > t_gpu


def test_gpu_contention_slows_the_model() -> None:
    gpu = TorchDecoder(BIG, device="cuda")
    _prefill_times(gpu, 3)
    alone, step_alone = statistics.median(_prefill_times(gpu)), statistics.median(_step_times(gpu))
    burner = GpuBurner()
    burner.start()  # returns once the burner's CUDA context runs
    try:
        shared, step_shared = statistics.median(_prefill_times(gpu)), statistics.median(_step_times(gpu))
    finally:
        burner.stop()
    print(f"prefill 768 tokens: alone {alone * 1e3:.2f} ms, with burner {shared * 1e3:.2f} ms; "
          f"decode step: alone {step_alone * 1e3:.2f} ms, with burner {step_shared * 1e3:.2f} ms")
    assert shared > 1.3 * alone
