"""Per-request attribution API: the current request's ledger state and ``attribute()``.

The ledger itself (how energy and GPU-seconds are split between this process's requests, other
processes and idle time) is :mod:`._ledger`.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from infersight.instrument.gpu._ledger import Attribution, Ledger, RequestState

_current: ContextVar[RequestState | None] = ContextVar("infersight_gpu_request", default=None)


def current_request() -> RequestState | None:
    return _current.get()


def set_current(st: RequestState | None) -> Token[RequestState | None]:
    return _current.set(st)


def reset_current(token: Token[RequestState | None] | None) -> None:
    if token is None:
        return
    try:
        _current.reset(token)
    except ValueError:  # ended in another context than it started: just clear ours
        _current.set(None)


def attribute(*, tokens: int | None = None, weight: float | None = None) -> bool:
    """Report work of the current request: ``tokens`` processed (prompt or generated) and,
    optionally, an explicit attribution ``weight``.

    With ``split="tokens"`` the request's share of the GPU from now on is proportional to the
    tokens reported so far (report at admission, e.g. prompt + max new tokens, for the best
    split); tokens also give the cost per 1k tokens on the span. Returns False outside an
    instrumented request (or when the GPU plane is off). O(1), never raises.
    """
    st = _current.get()
    if st is None or st.done:
        return False
    ledger: Ledger = st.ledger
    try:
        if tokens is not None and tokens > 0:
            st.tokens += int(tokens)
        w = weight
        if w is None and tokens and ledger.split == "tokens":
            w = float(st.tokens)
        if w is not None and w > 0:
            ledger.reweight(st, float(w), ledger.clock())
    except (TypeError, ValueError):
        return False
    return True


__all__ = ["Attribution", "Ledger", "RequestState", "attribute", "current_request",
           "reset_current", "set_current"]
