"""Runtime facts (Python, torch, CUDA, driver, process role, model device) for resource
attributes and an info metric.

Nothing here imports torch: a model server that has not imported it yet must not pay for it.
The torch/CUDA versions come from ``sys.modules`` when torch is already loaded, else from the
installed distribution's metadata; the driver version from ``/proc/driver/nvidia/version``;
``torch.cuda.is_available()`` only when torch is loaded; the model device from
``declare_model_device`` when it ran before the providers were built (it usually runs later:
the ``infersight.model.device`` gauge and change spans carry it then).
"""

from __future__ import annotations

import logging
import os
import platform
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from infersight.instrument.runtime._device import MODEL_DEVICES, torch_cuda_available

logger = logging.getLogger(__name__)

_DRIVER_FILE = Path("/proc/driver/nvidia/version")
_DRIVER_RE = re.compile(r"Kernel Module\s+(?:for\s+\S+\s+)?([0-9]+(?:\.[0-9]+)+)")


@dataclass(frozen=True)
class RuntimeFacts:
    python_version: str
    torch_version: str
    cuda_version: str
    driver_version: str
    process_role: str
    infersight_version: str
    torch_cuda_available: bool | None = None
    model_device: str = ""

    def resource_attributes(self) -> dict[str, str]:
        """OTel resource attributes (empty facts are left out)."""
        attrs = {
            "process.runtime.name": platform.python_implementation().lower(),
            "process.runtime.version": self.python_version,
            "infersight.torch.version": self.torch_version,
            "infersight.cuda.version": self.cuda_version,
            "infersight.nvidia.driver.version": self.driver_version,
            "infersight.process.role": self.process_role,
            "infersight.version": self.infersight_version,
            "infersight.model.device": self.model_device,
            "infersight.torch.cuda.available": "" if self.torch_cuda_available is None
            else str(self.torch_cuda_available).lower(),
        }
        return {k: v for k, v in attrs.items() if v}

    def labels(self) -> dict[str, str]:
        """Labels of the ``infersight_runtime_info`` metric (empty facts as "")."""
        return {
            "python_version": self.python_version,
            "torch_version": self.torch_version,
            "cuda_version": self.cuda_version,
            "driver_version": self.driver_version,
            "process_role": self.process_role,
            "infersight_version": self.infersight_version,
        }


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def _torch_versions() -> tuple[str, str]:
    torch = sys.modules.get("torch")
    if torch is not None:
        version = str(getattr(torch, "__version__", "") or "")
        cuda = str(getattr(getattr(torch, "version", None), "cuda", "") or "")
        return version, cuda
    version = _dist_version("torch")
    # Wheels built for CUDA carry it in the local version ("2.4.0+cu121").
    cuda = ""
    if "+cu" in version:
        tag = version.split("+cu", 1)[1]
        if tag.isdigit() and len(tag) >= 3:
            cuda = f"{tag[:-1]}.{tag[-1]}"
    return version, cuda


def driver_version(path: Path = _DRIVER_FILE) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    match = _DRIVER_RE.search(text)
    return match.group(1) if match else ""


def runtime_facts(process_role: str | None = None, *, driver_file: Path = _DRIVER_FILE) -> RuntimeFacts:
    torch_version, cuda_version = _torch_versions()
    role = process_role or os.environ.get("INFERSIGHT_PROCESS_ROLE", "") or "server"
    return RuntimeFacts(
        python_version=platform.python_version(),
        torch_version=torch_version,
        cuda_version=cuda_version,
        driver_version=driver_version(driver_file),
        process_role=role,
        infersight_version=_dist_version("infersight"),
        torch_cuda_available=torch_cuda_available(),
        model_device=",".join(sorted({m.device for m in MODEL_DEVICES.snapshot()})),
    )


__all__ = ["RuntimeFacts", "runtime_facts", "driver_version"]
