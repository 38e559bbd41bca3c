"""Server configuration: CLI flags map onto :class:`ServerConfig`; ``INFERSIGHT_DEMO_*`` env too."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from infersight.demo._errors import DemoConfigError
from infersight.demo._faults import check_faults

DEFAULT_DATA_DIR = Path(os.environ.get("INFERSIGHT_DEMO_DATA", Path.home() / ".cache" / "infersight-demo"))


@dataclass
class ServerConfig:
    service_name: str = "demo-model-server"
    faults: list[str] = field(default_factory=list)
    # model
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 8
    d_ff: int = 512
    max_seq: int = 1024
    seed: int = 1234
    backend: str = "auto"  # auto | numpy | torch
    gpu: str = "auto"  # GPU plane (NVML): auto = on when a CUDA GPU is present | on | off
    max_batch: int = 8
    # payments DB
    db_path: str = ""
    rows: int = 500_000
    users: int = 50_000
    pool_size: int = 8
    pool_timeout: float = 2.0
    sync_period: float = 10.0
    writer_rate: float = 20.0
    # caches
    cache_ttl: float = 10.0
    cache_capacity: int = 2048
    redis_url: str = ""
    # neighbours
    downstream_url: str = ""
    downstream_timeout: float = 2.0
    otlp_endpoint: str = ""
    export_interval_s: float = 2.0

    def __post_init__(self) -> None:
        self.faults = check_faults(list(self.faults))
        if self.pool_size < 1:
            raise DemoConfigError("pool_size must be >= 1")
        if self.sync_period <= 0:
            raise DemoConfigError("sync_period must be > 0")
        if self.backend not in ("auto", "numpy", "torch"):
            raise DemoConfigError("backend must be auto, numpy or torch")
        if self.gpu not in ("auto", "on", "off"):
            raise DemoConfigError("gpu must be auto, on or off")
        if not self.db_path:
            self.db_path = str(DEFAULT_DATA_DIR / f"payments-{self.rows}.sqlite")

    @classmethod
    def from_env(cls, **overrides: object) -> ServerConfig:
        """Defaults, then ``INFERSIGHT_DEMO_<FIELD>`` variables, then ``overrides`` (non-None)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"INFERSIGHT_DEMO_{f.name.upper()}")
            if raw is None:
                continue
            if f.name == "faults":
                values[f.name] = [x for x in raw.replace(",", " ").split() if x]
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


__all__ = ["DEFAULT_DATA_DIR", "ServerConfig"]
