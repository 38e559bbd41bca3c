"""The PromQL metric-name scanner that --check relies on."""

from __future__ import annotations

import pytest

from .conftest import load_build

load_build()  # puts dashboards/ on sys.path
from _promql import label_values_metric, metric_names  # noqa: E402


@pytest.mark.parametrize(("expr", "names"), [
    ('histogram_quantile(0.99, sum by (le, http_route) (rate(a_bucket{job=~"$job", x="b{c}"}[$__rate_interval])))',
     {"a_bucket"}),
    ("sum(rate(a_total[5m] offset 1h)) / on(job) group_left(x) b:rec:rate5m > bool 0.5",
     {"a_total", "b:rec:rate5m"}),
    ("1 - (sum(x) or vector(0)) * $gpu_hour_usd", {"x"}),
    ("vllm:num_requests_running + infersight_ready", {"vllm:num_requests_running", "infersight_ready"}),
    ("count(up) unless inf_metric * Inf", {"up", "inf_metric"}),
    ('max by (gpu) (m{reason!="idle"}) > 0', {"m"}),
])
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_label_values_query() -> None:
    assert label_values_metric('label_values(up{job=~"$job"}, instance)') == {"up"}
    assert label_values_metric("label_values(foo_bucket, le)") == {"foo_bucket"}


def test_selector_and_grouping_labels() -> None:
    from _promql import grouping_labels, selector_labels

    expr = ('sum by (job, http_route) (rate(a_bucket{job=~"$job", le="0.2", x!~"a{b}"}[5m])) '
            '/ ignoring(le) group_left(pool_name) b')
    assert selector_labels(expr) == [("a_bucket", {"job", "le", "x"})]
    assert grouping_labels(expr) == {"job", "http_route", "le", "pool_name"}
