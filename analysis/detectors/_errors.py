"""code_defect: requests fail more than in the baseline, and the failures start in one place.

The error ratio of entry requests in the incident against the baseline (Fisher's exact test);
each failed request's error is traced to where it started (``error_origins``: the deepest failed
span, so a callee's exception is the callee's); the service (and operation) where most of the
*extra* failures start is the cause. ERROR log records of that service, before and after, are
evidence when the logs table has them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from infersight.analysis import _sql
from infersight.analysis._category import Category
from infersight.analysis._context import Context
from infersight.analysis._finding import Evidence, Finding
from infersight.analysis._stats import rate_increase
from infersight.analysis.detectors._base import Cause, finding


@dataclass(frozen=True)
class Thresholds:
    max_p_value: float = 0.001
    min_errors: int = 5
    min_rise: float = 0.01
    #: share of the extra failures that must start in the named service
    min_origin_share: float = 0.3


T = Thresholds()


def _origins(ctx: Context, lo: int, hi: int) -> pd.DataFrame:
    return _sql.run(ctx.tel.con, "detectors/error_origins", lo_ns=lo, hi_ns=hi)


class ErrorDetector:
    name = "code_defect"
    categories = (Category.CODE_DEFECT,)

    def __init__(self, thresholds: Thresholds = T) -> None:
        self.t = thresholds

    def detect(self, ctx: Context) -> list[Finding]:
        inc, t = ctx.incident, self.t
        if inc.onset_ns is None or inc.baseline_ns is None:
            return []
        err = ctx.requests["is_error"].to_numpy(dtype=bool)
        k_i, n_i = int((err & ctx.inc).sum()), int(ctx.inc.sum())
        k_b, n_b = int((err & ctx.base).sum()), int(ctx.base.sum())
        test = rate_increase(k_i, n_i, k_b, n_b)
        if test is None or k_i < t.min_errors or test.p_value > t.max_p_value:
            return []
        r_i, r_b = k_i / max(1, n_i), k_b / max(1, n_b)
        if r_i - r_b < t.min_rise:
            return []
        lo, hi = inc.onset_ns, inc.end_ns or ctx.tel.until_ns
        o_inc = _origins(ctx, lo, hi)
        o_base = _origins(ctx, *inc.baseline_ns)
        if o_inc.empty:
            return []
        by_inc = o_inc.groupby(["service", "operation"]).size()
        by_base = o_base.groupby(["service", "operation"]).size() if not o_base.empty else pd.Series(dtype=int)
        scale = n_i / max(1, n_b)
        extra = (by_inc - by_base.reindex(by_inc.index, fill_value=0) * scale).clip(lower=0)
        if extra.sum() <= 0:
            return []
        svc_extra = extra.groupby(level=0).sum().sort_values(ascending=False)
        service = str(svc_extra.index[0])
        origin_share = float(svc_extra.iloc[0] / extra.sum())
        if origin_share < t.min_origin_share:
            return []
        ops = extra.loc[service].sort_values(ascending=False)
        operation = str(ops.index[0])
        share_errors = float((k_i - r_b * n_i) / max(1, k_i)) * origin_share
        failed_here = np.zeros(len(ctx.requests), dtype=bool)
        idx = o_inc.loc[o_inc["service"] == service, "idx"].to_numpy(dtype=np.int64)
        pos = pd.Series(np.arange(len(ctx.requests)), index=ctx.requests["idx"].to_numpy()).reindex(idx).dropna()
        failed_here[pos.to_numpy(dtype=np.int64)] = True
        exc = bool(o_inc.loc[o_inc["service"] == service, "has_exception"].astype("boolean").fillna(False).any())
        kind = o_inc.loc[o_inc["service"] == service, "kind"].mode()
        untraced_peer = len(kind) and str(kind.iloc[0]) == "client"
        where = f"calls from '{service}' to an untraced peer" if untraced_peer else f"'{service}' {operation}"
        logs = _sql.run(ctx.tel.con, "detectors/error_logs", lo_ns=lo, hi_ns=hi)
        logs_b = _sql.run(ctx.tel.con, "detectors/error_logs", lo_ns=inc.baseline_ns[0], hi_ns=inc.baseline_ns[1])
        evidence = [
            Evidence("error_ratio", round(r_i, 4), round(r_b, 4), ctx.exemplars(failed_here)),
            Evidence("failures_starting_here_share", round(origin_share, 3), None),
            Evidence("failed_requests", k_i, k_b),
            Evidence("exception_events", exc, None),
        ]
        mine = logs[logs["service"] == service]
        if len(mine):
            base_n = int(logs_b.loc[logs_b["service"] == service, "records"].sum()) if len(logs_b) else 0
            evidence.append(Evidence("error_log_records", int(mine["records"].iloc[0]), base_n))
            evidence.append(Evidence("error_log_body", str(mine["common_body"].iloc[0])[:300], None))
        cause = Cause(Category.CODE_DEFECT, service, "code",
                      f"error ratio {r_b:.1%} -> {r_i:.1%}; {origin_share:.0%} of the new failures start in {where}",
                      f"Requests fail more ({r_b:.1%} -> {r_i:.1%}): the failures start in {where}",
                      "errors", failed_here, float(min(1.0, max(0.0, share_errors))), test,
                      support=min(1.0, origin_share / 0.6), service=service)
        return [finding(ctx, cause, evidence=evidence, counterfactual_ms=np.zeros(len(ctx.requests)),
                        remediation=[f"Look at the exception and the change deployed to '{service}' around the onset; "
                                     "roll it back if it is recent.",
                                     "Add a test for the failing input; make callers degrade (fallback, retry with "
                                     "backoff) instead of failing the whole request."],
                        chain=[f"{service} {operation}", "exceptions / 5xx", "error ratio"])]


DETECTOR = ErrorDetector()

__all__ = ["DETECTOR", "ErrorDetector", "Thresholds"]
