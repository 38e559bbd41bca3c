"""Trace requests parsed with attribute lists left as raw bytes, and a memo from those bytes to strings.

Most of the CPU of converting a span went into attributes: a Python wrapper per KeyValue and per
AnyValue, then ``WhichOneof``/``str()``. Real telemetry repeats the same attributes over and over
(``http.request.method=POST``, ``db.system=redis``), so the trace request is parsed with a copy of
the installed OTLP schema in which every ``repeated KeyValue attributes`` field is ``repeated
bytes`` (same field number and wire type, so the same bytes parse), and each attribute's encoded
bytes are looked up in a bounded memo of ``bytes -> (key, value as stored)``. A miss parses the
bytes as a real ``KeyValue`` and formats it with :func:`any_to_str`, so a hit gives exactly what
the full parse would have given, and a malformed or non-UTF-8 attribute is still a DecodeError
(only on the first time its bytes are seen; identical bytes are never accepted after a failure).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError as ProtoDecodeError
from google.protobuf.message import Message
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ._attrs import MapColumn, any_to_str
from ._errors import DecodeError

_KEY_VALUE = ".opentelemetry.proto.common.v1.KeyValue"
MEMO_MAX = 1 << 16  # entries; a full memo is emptied (a few tens of MB at most per process)


def _file(module: Any) -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(fd)
    return fd


def _attrs_as_bytes(messages: Any) -> None:
    for m in messages:
        for f in m.field:
            if f.type_name == _KEY_VALUE:
                f.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                f.ClearField("type_name")
        _attrs_as_bytes(m.nested_type)


def _wire_classes() -> type[Message]:
    pool = descriptor_pool.DescriptorPool()  # private pool: same names as the real schema, no clash
    pool.Add(_file(common_pb2))
    for module in (resource_pb2, trace_pb2):
        fd = _file(module)
        _attrs_as_bytes(fd.message_type)
        pool.Add(fd)
    # TracesData has the same fields as ExportTraceServiceRequest (resource_spans = 1)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("opentelemetry.proto.trace.v1.TracesData"))


WireTraces = _wire_classes()


def parse_wire(body: bytes) -> Any:
    """Parse an ExportTraceServiceRequest body into :data:`WireTraces`; DecodeError when invalid."""
    msg = WireTraces()
    try:
        msg.ParseFromString(body)
    except (ProtoDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"invalid OTLP protobuf: {exc}") from None
    return msg


def to_wire(req: Message) -> Any:
    """A real ExportTraceServiceRequest (from JSON, gRPC or a file) as :data:`WireTraces`."""
    if isinstance(req, WireTraces):
        return req
    return parse_wire(req.SerializeToString())


class AttrMemo(dict[bytes, tuple[str, str]]):
    """``memo[encoded KeyValue] -> (key, value as stored)``; a miss parses and formats the bytes."""

    def __init__(self, max_entries: int = MEMO_MAX) -> None:
        super().__init__()
        self.max_entries = max_entries
        self._lock = threading.Lock()

    def __missing__(self, raw: bytes) -> tuple[str, str]:
        try:
            kv = common_pb2.KeyValue.FromString(raw)
        except (ProtoDecodeError, RuntimeError, ValueError) as exc:
            raise DecodeError(f"invalid OTLP protobuf: attribute: {exc}") from None
        pair = (kv.key, any_to_str(kv.value))
        with self._lock:
            if len(self) >= self.max_entries:
                self.clear()
            self[raw] = pair
        return pair


MEMO = AttrMemo()


def add_maps(col: MapColumn, attr_lists: Iterable[Any], memo: AttrMemo = MEMO) -> None:
    """Append one MAP row per attribute list (of encoded KeyValues); duplicate keys keep the last."""
    keys, values, offsets = col.keys, col.values, col.offsets
    get = memo.__getitem__
    for attrs in attr_lists:
        if attrs:
            d = dict(map(get, attrs))
            keys.extend(d)
            values.extend(d.values())
        offsets.append(len(keys))


def wire_attrs_dict(attrs: Iterable[bytes], memo: AttrMemo = MEMO) -> dict[str, str]:
    """``_attrs.attrs_dict`` for encoded KeyValues (through the memo)."""
    return dict(map(memo.__getitem__, attrs))
