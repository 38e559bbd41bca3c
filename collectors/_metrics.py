"""ExportMetricsServiceRequest -> Arrow tables shaped like the five ``otel_metrics_*`` tables."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ._attrs import ListColumn, ListOfMapColumn, MapColumn, attrs_dict
from ._traces import Converted

_TS = pa.timestamp("ns")
_MAX_TS = (1 << 63) - 1
_CTX_COLS = ("ResourceSchemaUrl", "ScopeName", "ScopeVersion", "ScopeDroppedAttrCount", "ScopeSchemaUrl",
             "ServiceName", "MetricName", "MetricDescription", "MetricUnit")


class _Table:
    """Column builders for one metric table."""

    def __init__(self, extra: dict[str, pa.DataType]) -> None:
        self.res = MapColumn()
        self.scope_attrs = MapColumn()
        self.attrs = MapColumn()
        self.cols: dict[str, list[Any]] = {name: [] for name in (
            "ResourceSchemaUrl", "ScopeName", "ScopeVersion", "ScopeDroppedAttrCount", "ScopeSchemaUrl",
            "ServiceName", "MetricName", "MetricDescription", "MetricUnit", "StartTimeUnix", "TimeUnix",
            "Flags", *extra)}
        self.types: dict[str, pa.DataType] = {
            "ResourceSchemaUrl": pa.string(), "ScopeName": pa.string(), "ScopeVersion": pa.string(),
            "ScopeDroppedAttrCount": pa.uint32(), "ScopeSchemaUrl": pa.string(), "ServiceName": pa.string(),
            "MetricName": pa.string(), "MetricDescription": pa.string(), "MetricUnit": pa.string(),
            "StartTimeUnix": _TS, "TimeUnix": _TS, "Flags": pa.uint32(), **extra}
        self.ex: dict[str, ListColumn] | None = None
        self.ex_attrs: ListOfMapColumn | None = None

    def with_exemplars(self) -> _Table:
        self.ex = {"Exemplars.TimeUnix": ListColumn(_TS), "Exemplars.Value": ListColumn(pa.float64()),
                   "Exemplars.SpanId": ListColumn(pa.string()), "Exemplars.TraceId": ListColumn(pa.string())}
        self.ex_attrs = ListOfMapColumn()
        return self

    def add(self, ctx: tuple[Any, ...], rattrs: dict[str, str], sattrs: Any, dp: Any,
            extra: dict[str, Any]) -> None:
        c = self.cols
        for name, value in zip(_CTX_COLS, ctx, strict=True):
            c[name].append(value)
        c["StartTimeUnix"].append(dp.start_time_unix_nano)
        c["TimeUnix"].append(dp.time_unix_nano)
        c["Flags"].append(dp.flags)
        for k, v in extra.items():
            c[k].append(v)
        self.res.add_dict(rattrs)
        self.scope_attrs.add_dict(sattrs)
        self.attrs.add_kvs(dp.attributes)
        if self.ex is not None and self.ex_attrs is not None:
            exs = dp.exemplars
            self.ex["Exemplars.TimeUnix"].add(min(e.time_unix_nano, _MAX_TS) for e in exs)
            self.ex["Exemplars.Value"].add(
                float(e.as_int) if e.WhichOneof("value") == "as_int" else e.as_double for e in exs)
            self.ex["Exemplars.SpanId"].add(e.span_id.hex() for e in exs)
            self.ex["Exemplars.TraceId"].add(e.trace_id.hex() for e in exs)
            self.ex_attrs.add(e.filtered_attributes for e in exs)

    def __len__(self) -> int:
        return len(self.cols["TimeUnix"])

    def table(self) -> pa.Table:
        data: dict[str, pa.Array] = {k: pa.array(v, self.types[k]) for k, v in self.cols.items()}
        data["ResourceAttributes"] = self.res.array()
        data["ScopeAttributes"] = self.scope_attrs.array()
        data["Attributes"] = self.attrs.array()
        if self.ex is not None and self.ex_attrs is not None:
            data.update({k: col.array() for k, col in self.ex.items()})
            data["Exemplars.FilteredAttributes"] = self.ex_attrs.array()
        return pa.table(data)


def _value(dp: Any) -> float:
    return float(dp.as_int) if dp.WhichOneof("value") == "as_int" else float(dp.as_double)


def _ts_ok(dp: Any) -> bool:
    return dp.time_unix_nano <= _MAX_TS and dp.start_time_unix_nano <= _MAX_TS


def convert_metrics(req: Any) -> Converted:
    out = Converted()
    f64, i32, u64 = pa.float64(), pa.int32(), pa.uint64()
    gauge = _Table({"Value": f64}).with_exemplars()
    sums = _Table({"Value": f64, "AggregationTemporality": i32, "IsMonotonic": pa.bool_()}).with_exemplars()
    hist = _Table({"Count": u64, "Sum": f64, "BucketCounts": pa.list_(u64), "ExplicitBounds": pa.list_(f64),
                   "Min": f64, "Max": f64, "AggregationTemporality": i32}).with_exemplars()
    exph = _Table({"Count": u64, "Sum": f64, "Scale": i32, "ZeroCount": u64, "PositiveOffset": i32,
                   "PositiveBucketCounts": pa.list_(u64), "NegativeOffset": i32,
                   "NegativeBucketCounts": pa.list_(u64), "Min": f64, "Max": f64,
                   "AggregationTemporality": i32}).with_exemplars()
    summ = _Table({"Count": u64, "Sum": f64, "ValueAtQuantiles.Quantile": pa.list_(f64),
                   "ValueAtQuantiles.Value": pa.list_(f64)})
    for rm in req.resource_metrics:
        rattrs = attrs_dict(rm.resource.attributes)
        service = rattrs.get("service.name", "")
        for sm in rm.scope_metrics:
            sattrs = attrs_dict(sm.scope.attributes)
            for m in sm.metrics:
                ctx = (rm.schema_url, sm.scope.name, sm.scope.version, sm.scope.dropped_attributes_count,
                       sm.schema_url, service, m.name, m.description, m.unit)
                kind = m.WhichOneof("data")
                if kind == "gauge":
                    for dp in m.gauge.data_points:
                        if not _ts_ok(dp):
                            out.reject(1, "timestamp out of range")
                            continue
                        gauge.add(ctx, rattrs, sattrs, dp, {"Value": _value(dp)})
                elif kind == "sum":
                    s = m.sum
                    for dp in s.data_points:
                        if not _ts_ok(dp):
                            out.reject(1, "timestamp out of range")
                            continue
                        sums.add(ctx, rattrs, sattrs, dp, {"Value": _value(dp),
                                 "AggregationTemporality": s.aggregation_temporality,
                                 "IsMonotonic": s.is_monotonic})
                elif kind == "histogram":
                    h = m.histogram
                    for dp in h.data_points:
                        bounds = list(dp.explicit_bounds)
                        counts = list(dp.bucket_counts)
                        if not _ts_ok(dp) or (counts and len(counts) != len(bounds) + 1):
                            out.reject(1, "histogram bucket_counts must have len(explicit_bounds)+1 items")
                            continue
                        hist.add(ctx, rattrs, sattrs, dp, {
                            "Count": dp.count, "Sum": dp.sum if dp.HasField("sum") else None,
                            "BucketCounts": counts, "ExplicitBounds": bounds,
                            "Min": dp.min if dp.HasField("min") else None,
                            "Max": dp.max if dp.HasField("max") else None,
                            "AggregationTemporality": h.aggregation_temporality})
                elif kind == "exponential_histogram":
                    e = m.exponential_histogram
                    for dp in e.data_points:
                        if not _ts_ok(dp):
                            out.reject(1, "timestamp out of range")
                            continue
                        exph.add(ctx, rattrs, sattrs, dp, {
                            "Count": dp.count, "Sum": dp.sum if dp.HasField("sum") else None,
                            "Scale": dp.scale, "ZeroCount": dp.zero_count,
                            "PositiveOffset": dp.positive.offset,
                            "PositiveBucketCounts": list(dp.positive.bucket_counts),
                            "NegativeOffset": dp.negative.offset,
                            "NegativeBucketCounts": list(dp.negative.bucket_counts),
                            "Min": dp.min if dp.HasField("min") else None,
                            "Max": dp.max if dp.HasField("max") else None,
                            "AggregationTemporality": e.aggregation_temporality})
                elif kind == "summary":
                    for dp in m.summary.data_points:
                        if not _ts_ok(dp):
                            out.reject(1, "timestamp out of range")
                            continue
                        summ.add(ctx, rattrs, sattrs, dp, {
                            "Count": dp.count, "Sum": dp.sum,
                            "ValueAtQuantiles.Quantile": [q.quantile for q in dp.quantile_values],
                            "ValueAtQuantiles.Value": [q.value for q in dp.quantile_values]})
    for name, t in (("otel_metrics_gauge", gauge), ("otel_metrics_sum", sums), ("otel_metrics_histogram", hist),
                    ("otel_metrics_exponential_histogram", exph), ("otel_metrics_summary", summ)):
        if len(t):
            out.accepted += len(t)
            out.tables[name] = t.table()
    return out
