"""``infersight import``: OTLP JSON / JSON-lines, OTLP protobuf (file exporter framing) and Jaeger JSON."""

from __future__ import annotations

import json
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._errors import CollectorError, DecodeError, ImportFormatError, StorageError
from ._jaeger import is_jaeger, jaeger_to_otlp
from ._otlp_json import parse_json_obj
from ._signals import PROTOBUF, SIGNALS, Signal
from ._traces import Converted

logger = logging.getLogger(__name__)
_KEYS = {"resourceSpans": "traces", "resource_spans": "traces", "resourceMetrics": "metrics",
         "resource_metrics": "metrics", "resourceLogs": "logs", "resource_logs": "logs"}
FORMATS = ("auto", "otlp-json", "otlp-proto", "jaeger")


def _signal_for_doc(doc: Any) -> Signal:
    if isinstance(doc, dict):
        for key, name in _KEYS.items():
            if key in doc:
                return SIGNALS[name]
    raise ImportFormatError("not an OTLP JSON document (no resourceSpans/resourceMetrics/resourceLogs)")


def _signal_for_name(path: Path) -> Signal:
    name = path.name.lower()
    if "metric" in name:
        return SIGNALS["metrics"]
    if "log" in name:
        return SIGNALS["logs"]
    return SIGNALS["traces"]


def _json_docs(data: bytes) -> Iterator[Any]:
    try:
        yield json.loads(data)
        return
    except ValueError:
        pass
    for n, line in enumerate(data.splitlines(), 1):  # JSON lines (the file exporter's default)
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise ImportFormatError(f"line {n}: not JSON ({exc})") from None


def _proto_frames(data: bytes) -> Iterator[bytes]:
    """The file exporter's proto format: each message preceded by a 4-byte big-endian length."""
    pos = 0
    frames: list[bytes] = []
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from(">I", data, pos)
        if pos + 4 + size > len(data):
            break
        frames.append(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    if frames and pos == len(data):
        yield from frames
    else:
        yield data  # one bare message


def convert_file(path: Path, fmt: str = "auto") -> Iterator[Converted]:
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc.strerror}") from None
    if fmt == "auto":
        head = data.lstrip()[:1]
        fmt = "otlp-json" if head in (b"{", b"[") else "otlp-proto"
    try:
        if fmt == "otlp-proto":
            sig = _signal_for_name(path)
            for frame in _proto_frames(data):
                yield sig.convert(sig.decode(frame, PROTOBUF))
            return
        for doc in _json_docs(data):
            if is_jaeger(doc):
                yield SIGNALS["traces"].convert(jaeger_to_otlp(doc))
            elif fmt == "jaeger":
                raise ImportFormatError(f"{path}: not Jaeger JSON")
            else:
                sig = _signal_for_doc(doc)
                yield sig.convert(parse_json_obj(doc, sig.request()))
    except ImportFormatError as exc:
        msg = str(exc)
        raise ImportFormatError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except DecodeError as exc:
        raise ImportFormatError(f"{path}: {exc}") from None


def import_paths(db: str | os.PathLike[str], paths: list[Path], *, fmt: str = "auto") -> dict[str, int]:
    """Import every file into ``db``; all-or-nothing per file. Returns item counts."""
    from ._collector import open_database
    from ._writer import Writer

    con = open_database(str(db))
    writer = Writer(con)
    writer.start()
    counts = {"files": 0, "accepted": 0, "rejected": 0}
    try:
        for path in paths:
            batches = list(convert_file(path, fmt))  # decode fully first: a bad file writes nothing
            tables: dict[str, list[Any]] = {}
            for conv in batches:
                counts["accepted"] += conv.accepted
                counts["rejected"] += conv.rejected
                for name, tbl in conv.tables.items():
                    tables.setdefault(name, []).append(tbl)
            if tables:
                import pyarrow as pa

                merged = {k: pa.concat_tables(v, promote_options="default") for k, v in tables.items()}
                try:
                    writer.submit(merged).result()
                except CollectorError:
                    raise
                except Exception as exc:
                    raise StorageError(f"{path}: write failed: {exc}") from None
            counts["files"] += 1
    finally:
        writer.stop()
        con.execute("CHECKPOINT")
        con.close()
    return counts
