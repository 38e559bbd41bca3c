"""Fixtures for the collector tests: a real in-process collector on free ports, OTLP helpers."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from infersight.collectors import Collector

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ingest/payload.py makes the realistic payloads
    sys.path.insert(0, str(ROOT))

PB = {"content-type": "application/x-protobuf"}
JS = {"content-type": "application/json"}
_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def otlp_json(message: Message, *, upper: bool = False) -> dict[str, Any]:
    """A message as OTLP/JSON: proto3 JSON, except ids are hex (the OTLP rule)."""
    doc = json_format.MessageToDict(message)

    def fix(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in _ID_KEYS and isinstance(v, str):
                    h = base64.b64decode(v).hex()
                    obj[k] = h.upper() if upper else h
                elif k not in ("attributes",):
                    fix(v)
        elif isinstance(obj, list):
            for item in obj:
                fix(item)

    fix(doc)
    return doc


def otlp_json_bytes(message: Message, **kw: Any) -> bytes:
    return json.dumps(otlp_json(message, **kw)).encode()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    col = Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=0, retention_interval_s=3600)
    col.start()
    try:
        yield col
    finally:
        col.stop()


def count(col: Collector, table: str = "otel_traces") -> int:
    assert col.con is not None
    cur = col.con.cursor()
    try:
        row = cur.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else 0
    finally:
        cur.close()
