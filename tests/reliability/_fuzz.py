"""Mutation fuzzing of the OTLP decoders (protobuf and JSON, traces/metrics/logs), and a catalogue
of hostile requests (truncated, oversized, gzip bombs, deep nesting, huge attribute counts,
invalid UTF-8, wrong id lengths, far timestamps) with the status each must get.

The only acceptable outcomes of ``decode`` + ``convert`` are a DecodeError (-> 400) or rows plus
a count of rejected items; anything else is a crash and is recorded with its input.
Used by tests/reliability/test_fuzz.py (short) and benchmarks/reliability/run.py fuzz (>= 10^6).
"""

from __future__ import annotations

import gzip
import json
import random
import resource
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from google.protobuf.message import Message
from infersight.collectors import DecodeError
from infersight.collectors._signals import SIGNALS
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from benchmarks.ingest.payload import make_request

PB, JS = "application/x-protobuf", "application/json"


def _metrics() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    sm = req.resource_metrics.add().scope_metrics.add()
    g = sm.metrics.add(name="hw.gpu.utilization", unit="1")
    g.gauge.data_points.add(time_unix_nano=1_764_000_000_000_000_000, as_double=0.5).attributes.add(
        key="gpu.index", value=AnyValue(string_value="0"))
    s = sm.metrics.add(name="http.server.requests")
    s.sum.is_monotonic = True
    s.sum.aggregation_temporality = 2
    s.sum.data_points.add(time_unix_nano=1_764_000_000_000_000_000, as_int=7)
    h = sm.metrics.add(name="http.server.request.duration", unit="s")
    h.histogram.aggregation_temporality = 2
    h.histogram.data_points.add(time_unix_nano=1_764_000_000_000_000_000, count=3, sum=0.3,
                                bucket_counts=[1, 1, 1], explicit_bounds=[0.05, 0.2])
    e = sm.metrics.add(name="lat")
    e.exponential_histogram.data_points.add(time_unix_nano=1, count=2, scale=3, zero_count=1,
                                            positive={"offset": 2, "bucket_counts": [1]})
    sm.metrics.add(name="q").summary.data_points.add(time_unix_nano=1, count=1, sum=2.0,
                                                      quantile_values=[{"quantile": 0.5, "value": 1.0}])
    return req


def _logs() -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    sl = req.resource_logs.add().scope_logs.add()
    rec = sl.log_records.add(time_unix_nano=1_764_000_000_000_000_000, severity_number=9, severity_text="INFO",
                             trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    rec.body.string_value = "hello"
    rec.attributes.add(key="k", value=AnyValue(int_value=3))
    return req


def _to_json(msg: Message) -> bytes:
    from google.protobuf import json_format

    doc = json_format.MessageToDict(msg)

    def fix(o: Any) -> None:  # ids are hex in OTLP/JSON
        import base64
        if isinstance(o, dict):
            for k, v in o.items():
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    o[k] = base64.b64decode(v).hex()
                else:
                    fix(v)
        elif isinstance(o, list):
            for x in o:
                fix(x)
    fix(doc)
    return json.dumps(doc).encode()


def seed_corpus() -> list[tuple[str, str, bytes]]:
    """(signal, content type, body): small valid requests of every signal, both encodings."""
    msgs: list[tuple[str, Message]] = [("traces", make_request(4, seed=s)) for s in range(3)]
    msgs += [("metrics", _metrics()), ("logs", _logs())]
    out = []
    for sig, m in msgs:
        out.append((sig, PB, m.SerializeToString()))
        out.append((sig, JS, _to_json(m)))
    return out


_JSON_TOKENS = [b"{", b"}", b"[", b"]", b'"', b",", b":", b"null", b"-1", b"1e999", b'"\\ud800"',
                b'"18446744073709551616"', b"true", b'"zz"', b'""', b"0x10", b"\xff", b"\\", b"NaN"]


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        n = len(b)
        if op == 0 and n:  # bit flip
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # random byte
            b[rng.randrange(n)] = rng.randrange(256)
        elif op == 2:  # insert bytes
            i = rng.randrange(n + 1)
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and n:  # delete a range
            i = rng.randrange(n)
            del b[i:i + rng.randint(1, 16)]
        elif op == 4 and n:  # truncate
            del b[rng.randrange(n):]
        elif op == 5 and n:  # duplicate a chunk (repeated fields, length confusion)
            i = rng.randrange(n)
            chunk = b[i:i + rng.randint(1, 64)]
            j = rng.randrange(n + 1)
            b[j:j] = chunk
        elif op == 6:  # splice with another corpus entry
            other = rng.choice(corpus)
            i, j = rng.randrange(n + 1), rng.randrange(len(other) + 1)
            b = b[:i] + bytearray(other[j:])
        elif op == 7 and n:  # interesting varint / JSON token
            i = rng.randrange(n)
            b[i:i] = rng.choice([b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\x80", b"\x00",
                                 b"\x7f\xff\xff\xff"] + _JSON_TOKENS)
        elif op == 8 and n:  # overwrite a length-ish byte with something large
            b[rng.randrange(n)] = rng.choice([0x7f, 0xff, 0x80, 0x00, 0x01])
    return bytes(b)


@dataclass
class FuzzReport:
    inputs: int = 0
    decode_errors: int = 0
    accepted_requests: int = 0
    rejected_items: int = 0
    crashes: int = 0
    crash_samples: list[dict[str, str]] = field(default_factory=list)
    max_rss_mib: float = 0.0
    seconds: float = 0.0
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_fuzz(inputs: int, *, seed: int = 0) -> FuzzReport:
    rng = random.Random(seed)
    corpus = seed_corpus()
    bodies = [b for _, _, b in corpus]
    report = FuzzReport(seed=seed)
    t0 = time.monotonic()
    for _ in range(inputs):
        sig_name, ctype, base = rng.choice(corpus)
        if rng.random() < 0.2:  # sometimes feed one signal's body to another decoder
            sig_name = rng.choice(list(SIGNALS))
        data = mutate(rng, base, bodies)
        sig = SIGNALS[sig_name]
        report.inputs += 1
        try:
            conv = sig.convert(sig.decode(data, ctype))
        except DecodeError:
            report.decode_errors += 1
            continue
        except Exception as exc:  # noqa: BLE001 - this is what the fuzzer looks for
            report.crashes += 1
            if len(report.crash_samples) < 20:
                report.crash_samples.append({"signal": sig_name, "content_type": ctype, "input_hex": data.hex(),
                                             "error": "".join(traceback.format_exception_only(exc)).strip()})
            continue
        report.accepted_requests += 1
        report.rejected_items += conv.rejected
    report.seconds = round(time.monotonic() - t0, 1)
    report.max_rss_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report


# ---- hostile requests over HTTP ------------------------------------------------------------------

def _span_req(**span: Any) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    args = {"trace_id": b"\x0a" * 16, "span_id": b"\x0b" * 8, "name": "n",
            "start_time_unix_nano": 1_764_000_000_000_000_000, "end_time_unix_nano": 1_764_000_000_100_000_000}
    args.update(span)
    req.resource_spans.add().scope_spans.add().spans.add(**args)
    return req


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ld(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def deep_attribute_pb(depth: int) -> bytes:
    """A span whose one attribute value is a kvlist nested ``depth`` deep (hand-encoded)."""
    val = _ld(0x0A, b"leaf")  # AnyValue.string_value
    for _ in range(depth):
        kv = _ld(0x0A, b"k") + _ld(0x12, val)  # KeyValue{key, value}
        val = _ld(0x32, _ld(0x0A, kv))  # AnyValue.kvlist_value{values}
    span = _ld(0x0A, b"\x0a" * 16) + _ld(0x12, b"\x0b" * 8) + _ld(0x2A, b"n") + _ld(0x4A, _ld(0x0A, b"deep") + _ld(0x12, val))
    return _ld(0x0A, _ld(0x12, _ld(0x12, span)))


def hostile_requests(max_body: int) -> Iterator[tuple[str, bytes, dict[str, str], set[int]]]:
    """(name, body, headers, allowed statuses) for the HTTP endpoint with ``--max-body max_body``."""
    good = make_request(64, seed=3).SerializeToString()
    pb = {"content-type": PB}
    js = {"content-type": JS}
    yield "truncated protobuf", good[: len(good) // 2], pb, {400}
    yield "truncated json", _to_json(make_request(4, seed=3))[:-7], js, {400}
    yield "oversized body", b"\x00" * (max_body + 1), pb, {413}
    bomb = gzip.compress(b"\x00" * (max_body * 8), compresslevel=9)
    yield "gzip bomb", bomb, {**pb, "content-encoding": "gzip"}, {413}
    yield "truncated gzip", gzip.compress(good)[:-20], {**pb, "content-encoding": "gzip"}, {400}
    yield "deep kvlist protobuf (5000)", deep_attribute_pb(5000), pb, {400}
    deep_js = ('{"kvlistValue":{"values":[{"key":"k","value":' * 5000 + '{"stringValue":"x"}' + "}]}}" * 5000)
    doc = ('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"' + "ab" * 16 + '","spanId":"' + "cd" * 8
           + '","name":"n","attributes":[{"key":"deep","value":' + deep_js + "}]}]}]}]}")
    yield "deep kvlist json (5000)", doc.encode(), js, {400}
    yield "deep json arrays (10^5)", b"[" * 100_000 + b"]" * 100_000, js, {400}
    many = _span_req()
    sp = many.resource_spans[0].scope_spans[0].spans[0]
    for i in range(100_000):
        sp.attributes.add(key=f"k{i}", value=AnyValue(int_value=i))
    yield "100k attributes on one span", many.SerializeToString(), pb, {200}
    bad_utf8 = _span_req(name="NAME1").SerializeToString().replace(b"NAME1", b"N\xff\xfe\xc0X")
    yield "invalid utf-8 in protobuf string", bad_utf8, pb, {400}
    yield "invalid utf-8 in json", b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\xff\xfe"}]}]}]}', js, {400}
    yield "lone surrogate in json", b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"\\ud800"}]}]}]}', js, {200, 400}
    yield "trace id of 15 bytes", _span_req(trace_id=b"\x01" * 15).SerializeToString(), pb, {200}
    yield "span id of 9 bytes", _span_req(span_id=b"\x01" * 9).SerializeToString(), pb, {200}
    yield "timestamp 0 (1970)", _span_req(start_time_unix_nano=0, end_time_unix_nano=1).SerializeToString(), pb, {200}
    yield "timestamp 2^64-1", _span_req(start_time_unix_nano=2**64 - 1, end_time_unix_nano=2**64 - 1).SerializeToString(), pb, {200}
    yield "end before start", _span_req(start_time_unix_nano=2**63, end_time_unix_nano=1).SerializeToString(), pb, {200}
