"""Statistics shared by the incident gate and the detectors.

Every test here is one-sided ("greater") and deterministic: large samples are thinned with a
fixed seed, never with the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

MWU_SAMPLE = 50_000


@dataclass(frozen=True)
class Test:
    """A test that ran: its p-value and a rank-biserial effect size in [-1, 1]."""

    name: str
    p_value: float
    effect: float
    n_a: int
    n_b: int


def mann_whitney(a: np.ndarray, b: np.ndarray, *, min_n: int = 5) -> Test | None:
    """One-sided Mann-Whitney U: is ``a`` stochastically greater than ``b``? None if a side is too small."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < min_n or len(b) < min_n:
        return None
    rng = np.random.default_rng(0)
    # sorted first, so the sample depends on the values, not on the order rows came in
    if len(a) > MWU_SAMPLE:
        a = rng.choice(np.sort(a), MWU_SAMPLE, replace=False)
    if len(b) > MWU_SAMPLE:
        b = rng.choice(np.sort(b), MWU_SAMPLE, replace=False)
    if np.ptp(np.concatenate([a, b])) == 0:
        return Test("mann_whitney", 1.0, 0.0, len(a), len(b))
    res = stats.mannwhitneyu(a, b, alternative="greater")
    effect = 2.0 * float(res.statistic) / (len(a) * len(b)) - 1.0
    return Test("mann_whitney", float(res.pvalue), effect, len(a), len(b))


def rate_increase(k_a: int, n_a: int, k_b: int, n_b: int, *, min_n: int = 5) -> Test | None:
    """Is the rate k_a/n_a greater than k_b/n_b? Fisher's exact test (one-sided); effect is the
    rate difference scaled to [-1, 1] by the room above the baseline rate."""
    if n_a < min_n or n_b < min_n:
        return None
    table = [[k_a, n_a - k_a], [k_b, n_b - k_b]]
    p = float(stats.fisher_exact(table, alternative="greater").pvalue)
    ra, rb = k_a / n_a, k_b / n_b
    effect = (ra - rb) / max(1e-9, 1.0 - rb) if ra >= rb else (ra - rb) / max(1e-9, rb)
    return Test("fisher_exact", p, float(effect), n_a, n_b)


def binomial_excess(k: int, n: int, p0: float) -> float:
    """One-sided binomial p-value of k or more successes in n trials at rate p0."""
    if n <= 0 or not 0.0 < p0 < 1.0:
        return 1.0
    return float(stats.binomtest(k, n, p0, alternative="greater").pvalue)


@dataclass(frozen=True)
class Segment:
    """The most anomalous run of steps [lo, hi) of a scan, and how sure it is."""

    lo: int
    hi: int
    llr: float
    p_value: float  # corrected for the number of segments scanned
    rate_in: float
    rate_out: float


def _bernoulli_ll(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.maximum(n, 1), 0.0)
        a = np.where(k > 0, k * np.log(np.where(p > 0, p, 1.0)), 0.0)
        b = np.where(n - k > 0, (n - k) * np.log(np.where(p < 1, 1.0 - p, 1.0)), 0.0)
    return np.asarray(a + b, dtype=float)


def scan(k: np.ndarray, n: np.ndarray, *, min_steps: int = 3, min_n: int = 20,
         lo_min: int = 0, hi_max: int | None = None, outside: tuple[int, int] | None = None) -> Segment | None:
    """Kulldorff's Bernoulli scan over a series of steps: the contiguous run of steps whose rate of
    events (``k`` of ``n`` per step) is most raised above the rest.

    ``lo_min``/``hi_max`` limit where a segment may lie; ``outside`` = (k, n) replaces "the rest of
    the series" as the comparison (an explicit baseline). The p-value is the chi-square tail of
    2*LLR times the number of segments scanned (Bonferroni): conservative, so a healthy series with
    autocorrelated noise needs a real jump to pass.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    t = len(k)
    hi_max = t if hi_max is None else hi_max
    if t < min_steps:
        return None
    ck = np.concatenate([[0.0], np.cumsum(k)])
    cn = np.concatenate([[0.0], np.cumsum(n)])
    lo = np.arange(lo_min, hi_max)
    hi = np.arange(lo_min + 1, hi_max + 1)
    L, H = np.meshgrid(lo, hi, indexing="ij")
    valid = (H - L) >= min_steps
    kin, nin = ck[H] - ck[L], cn[H] - cn[L]
    if outside is None:
        kout, nout = ck[-1] - kin, cn[-1] - nin
    else:
        kout = np.full_like(kin, float(outside[0]))
        nout = np.full_like(nin, float(outside[1]))
    valid &= (nin >= min_n) & (nout >= min_n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rin = kin / np.maximum(nin, 1)
        rout = kout / np.maximum(nout, 1)
    valid &= rin > rout
    if not valid.any():
        return None
    llr = _bernoulli_ll(kin, nin) + _bernoulli_ll(kout, nout) - _bernoulli_ll(kin + kout, nin + nout)
    llr = np.where(valid, llr, -np.inf)
    i, j = np.unravel_index(int(np.argmax(llr)), llr.shape)
    best = top = float(llr[i, j])
    # a change that lasts to the end of the range (one change point) is preferred over a burst
    # inside it (two change points) unless the burst is clearly better: periodic damage (a job
    # every 10 s) is one incident from its first run on, not its single worst run
    suffix = np.where(H == hi_max, llr, -np.inf)
    si, sj = np.unravel_index(int(np.argmax(suffix)), suffix.shape)
    steps_scanned = max(2, hi_max - lo_min)
    if np.isfinite(suffix[si, sj]) and best - float(suffix[si, sj]) < 1.5 * np.log(steps_scanned):
        i, j, best = si, sj, float(suffix[si, sj])
    # the test ("did anything change?") uses the largest LLR; the model choice only places it
    p = float(min(1.0, stats.chi2.sf(2.0 * max(top, 0.0), df=1) * steps_scanned * np.log(steps_scanned)))
    return Segment(int(L[i, j]), int(H[i, j]), best, p, float(rin[i, j]), float(rout[i, j]))


def extend(k: np.ndarray, n: np.ndarray, seg: Segment, *, lo_min: int = 0, p_max: float = 0.01) -> Segment:
    """Place a found change: a burst whose aftermath is still raised (periodic damage: a job every
    10 s, GC storms) runs to the end of the series; then the onset is moved to where a segment
    ending there is most anomalous (the first burst, not the worst one)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    t = len(k)
    lo, hi = seg.lo, seg.hi
    if hi < t and lo > lo_min:
        ka, na = k[hi:].sum(), n[hi:].sum()
        kb, nb = k[lo_min:lo].sum(), n[lo_min:lo].sum()
        if na >= 5 and nb >= 5:
            res = stats.fisher_exact([[ka, na - ka], [kb, nb - kb]], alternative="greater")
            if float(res.pvalue) <= p_max:
                hi = t
    best, best_lo = -np.inf, lo
    total_k, total_n = k.sum(), n.sum()
    for cand in range(lo_min, lo + 1):
        kin, nin = k[cand:hi].sum(), n[cand:hi].sum()
        kout, nout = total_k - kin, total_n - nin
        if nin <= 0 or nout <= 0 or kin / nin <= kout / nout:
            continue
        llr = float((_bernoulli_ll(np.array([kin]), np.array([nin])) + _bernoulli_ll(np.array([kout]), np.array([nout]))
                     - _bernoulli_ll(np.array([total_k]), np.array([total_n])))[0])
        if llr > best:
            best, best_lo = llr, cand
    return Segment(best_lo, hi, seg.llr, seg.p_value, seg.rate_in, seg.rate_out)


def cluster(k: np.ndarray, n: np.ndarray, seg: Segment, *, gap: int, lo_min: int = 0, p_step: float = 0.01,
            min_events: int = 2, keep_before: int = 3) -> Segment:
    """Grow a found segment over the steps that are anomalous on their own (binomial p <= p_step
    against the rate outside it, at least ``min_events`` events) and lie within ``gap`` steps of it
    or of each other: periodic bursts (a job every 10 s, a TTL expiring every 30 s) are one incident
    from the first burst to the last, not their single worst burst."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    t = len(k)
    r0 = max(seg.rate_out, 1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        pv = stats.binom.sf(k - 1, n.astype(int), r0)
    hot = (k >= min_events) & (pv <= p_step)
    # never grow into the first steps: a baseline must remain before the incident
    hot[: max(0, lo_min) + keep_before] = False
    lo, hi = seg.lo, seg.hi
    changed = True
    while changed:
        changed = False
        before = np.flatnonzero(hot[max(lo_min, lo - gap):lo])
        if len(before):
            lo = max(lo_min, lo - gap) + int(before[0])
            changed = True
        after = np.flatnonzero(hot[hi:min(t, hi + gap)])
        if len(after):
            hi = hi + int(after[-1]) + 1
            changed = True
    return Segment(lo, hi, seg.llr, seg.p_value, seg.rate_in, seg.rate_out)


def as_bool(values: object) -> np.ndarray:
    """A boolean column (nullable, object or bool dtype) as a numpy bool array, NULL as False -
    without pandas' slow per-element casts on millions of rows."""
    dtype = str(getattr(values, "dtype", ""))
    if dtype == "bool":
        return np.asarray(values, dtype=bool)
    if dtype == "boolean":  # pandas' nullable boolean
        return np.asarray(values.fillna(False), dtype=bool)  # type: ignore[attr-defined]
    out = np.asarray(values, dtype=object)
    return np.asarray(out == True, dtype=bool)  # noqa: E712 - element-wise, None -> False


def codes(values: object) -> np.ndarray:
    """Integer group codes of a label column (a categorical's own codes; no string copies of
    millions of rows), for groupby and equality."""
    cat = getattr(values, "cat", None)
    if cat is not None:
        return np.asarray(cat.codes, dtype=np.int64)
    import pandas as pd

    return np.asarray(pd.factorize(np.asarray(values, dtype=object))[0], dtype=np.int64)


def saturate(x: float, full: float) -> float:
    """x / full clipped to [0, 1]."""
    if full <= 0:
        return 0.0
    return float(min(1.0, max(0.0, x / full)))


def significance(p_value: float, full_at: float = 1e-6) -> float:
    """0..1: -log10(p) relative to -log10(full_at)."""
    return saturate(-np.log10(max(p_value, 1e-300)), -np.log10(full_at))


__all__ = ["Segment", "Test", "as_bool", "binomial_excess", "codes", "cluster", "extend", "mann_whitney", "rate_increase", "saturate", "scan",
           "significance"]
