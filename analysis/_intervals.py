"""Interval arithmetic on nanosecond arrays: the one copy every detector uses.

Intervals are half-open ``[start, end)`` given as two int64 arrays. Nothing here knows about
spans or requests; callers pass the arrays.
"""

from __future__ import annotations

import numpy as np

Intervals = tuple[np.ndarray, np.ndarray]


def as_intervals(starts: object, ends: object) -> Intervals:
    return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def union(starts: np.ndarray, ends: np.ndarray) -> Intervals:
    """Merge overlapping intervals: sorted, disjoint result (empty input gives empty arrays)."""
    s, e = as_intervals(starts, ends)
    if len(s) == 0:
        return s, e
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    run_end = np.maximum.accumulate(e)
    # a new block starts where the interval begins after everything before it has ended
    new = np.ones(len(s), dtype=bool)
    new[1:] = s[1:] > run_end[:-1]
    idx = np.flatnonzero(new)
    us = s[idx]
    ue = np.maximum.reduceat(e, idx)
    return us, ue


def total(iv: Intervals) -> int:
    """Length of the union of the intervals, ns."""
    s, e = union(*iv)
    return int((e - s).sum())


def overlap_ns(iv: Intervals, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For each query window ``[lo[i], hi[i])``: how many ns of it the intervals cover."""
    us, ue = union(*iv)
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    if len(us) == 0 or len(lo) == 0:
        return np.zeros(len(lo), dtype=np.int64)
    # covered length before t: cumulative lengths of whole blocks + the partial block at t
    cum = np.concatenate([[0], np.cumsum(ue - us)])

    def covered_before(t: np.ndarray) -> np.ndarray:
        i = np.searchsorted(us, t, side="right")  # blocks starting at or before t
        full = cum[np.maximum(i - 1, 0)]
        part = np.where(i > 0, np.clip(t - us[np.maximum(i - 1, 0)], 0, None), 0)
        last = np.where(i > 0, ue[np.maximum(i - 1, 0)] - us[np.maximum(i - 1, 0)], 0)
        return np.where(i > 0, full + np.minimum(part, last), 0)

    return np.asarray(covered_before(hi) - covered_before(lo), dtype=np.int64)


def covered_share(a: Intervals, b: Intervals) -> float:
    """Share of the time in intervals ``a`` during which some interval of ``b`` was open."""
    s, e = union(*a)
    length = int((e - s).sum())
    if length <= 0 or len(b[0]) == 0:
        return 0.0
    return float(overlap_ns(b, s, e).sum() / length)


def any_overlap(iv: Intervals, lo: np.ndarray, hi: np.ndarray, *, grace_ns: int = 0) -> np.ndarray:
    """Windows ``[lo, hi)`` that overlap an interval ``[start, end + grace)``."""
    s, e = as_intervals(*iv)
    return overlap_ns((s, e + grace_ns), lo, hi) > 0


def contains(iv: Intervals, points: np.ndarray, *, grace_ns: int = 0) -> np.ndarray:
    """Points that fall inside an interval ``[start, end + grace)``."""
    us, ue = union(iv[0], np.asarray(iv[1], dtype=np.int64) + grace_ns)
    p = np.asarray(points, dtype=np.int64)
    if len(us) == 0:
        return np.zeros(len(p), dtype=bool)
    i = np.searchsorted(us, p, side="right") - 1
    ok = i >= 0
    out = np.zeros(len(p), dtype=bool)
    out[ok] = p[ok] < ue[i[ok]]
    return out


def clip(iv: Intervals, lo: int, hi: int) -> Intervals:
    """The parts of the intervals inside ``[lo, hi)`` (empty ones dropped)."""
    s = np.clip(np.asarray(iv[0], dtype=np.int64), lo, hi)
    e = np.clip(np.asarray(iv[1], dtype=np.int64), lo, hi)
    keep = e > s
    return s[keep], e[keep]


__all__ = ["Intervals", "any_overlap", "as_intervals", "clip", "contains", "covered_share", "overlap_ns",
           "total", "union"]
