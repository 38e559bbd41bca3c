"""What the ledger hands out: a request's running state, its attribution, the consumer totals."""

from __future__ import annotations

from contextvars import Token
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infersight.instrument.gpu._ledger import Ledger


class RequestState:
    """What a request carries between start and end (returned by ``Ledger.begin``)."""

    __slots__ = ("weight", "tokens", "a_e", "a_s", "a_b", "acc_e", "acc_s", "acc_b", "cu0",
                 "cp0", "cs0", "co0", "seq0", "mask0", "xid0", "t0", "mem0", "alloc0", "ledger",
                 "ctx_token", "done")

    weight: float
    tokens: int
    a_e: float
    a_s: float
    a_b: float
    acc_e: float
    acc_s: float
    acc_b: float
    cu0: float
    cp0: float
    cs0: float
    co0: float
    seq0: int
    mask0: int
    xid0: int
    t0: int
    mem0: tuple[float | None, float | None]
    alloc0: tuple[int, int]
    ledger: Ledger
    ctx_token: Token[RequestState | None] | None
    done: bool

    def __init__(self) -> None:
        self.tokens = 0
        self.acc_e = self.acc_s = self.acc_b = 0.0
        self.ctx_token: Token[RequestState | None] | None = None
        self.done = False


@dataclass(frozen=True, slots=True)
class Attribution:
    energy_j: float
    gpu_seconds: float
    busy_seconds: float
    util_mean: float | None
    power_mean_w: float | None
    reasons: tuple[str, ...]
    throttled: bool
    samples: int
    xid_errors: int
    tokens: int
    weight: float
    self_util_mean: float | None = None
    other_util_mean: float | None = None
    memory_used_max: float | None = None
    memory_total: float | None = None
    ooms: int = 0
    alloc_retries: int = 0
    share_source: str = ""
    gpu_work: bool = True


@dataclass(frozen=True, slots=True)
class Consumers:
    energy_j: tuple[tuple[str, float], ...]
    seconds: tuple[tuple[str, float], ...]
    other_pids: tuple[tuple[int, str, float], ...]  # (pid, name, J)
    attributed_energy_j: float
    idle_energy_j: float

    @property
    def self_energy_j(self) -> float:
        return self.energy_j[0][1]


__all__ = ["Attribution", "Consumers", "RequestState"]
