"""OTLP/JSON -> protobuf messages, following the OTLP spec's JSON rules.

``json_format.Parse`` alone reads trace/span ids as base64 (the proto3 JSON rule for bytes), but
OTLP/JSON encodes them as hex (case-insensitive). This walks the decoded JSON, rewrites the id
fields to base64 of their hex bytes, then hands the dict to ``ParseDict`` with unknown fields
ignored (enums as integers or names, int64 as strings or numbers are accepted by protobuf).
An id that is not valid hex becomes a 1-byte value, so the item is rejected for its id length
(partial success) instead of failing the whole request.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from ._errors import DecodeError

M = TypeVar("M", bound=Message)

_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_BAD_ID = base64.b64encode(b"!").decode("ascii")


def _hex_to_b64(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # let ParseDict report the type error
    if value == "":
        return ""
    try:
        raw = binascii.unhexlify(value)
    except (binascii.Error, ValueError):
        return _BAD_ID
    return base64.b64encode(raw).decode("ascii")


def _fix_ids(obj: Any) -> None:
    if isinstance(obj, dict):
        for key in _ID_KEYS:
            if key in obj:
                obj[key] = _hex_to_b64(obj[key])
        for k, v in obj.items():
            if k in ("attributes", "resource", "body"):
                continue  # AnyValue payloads never carry ids
            if isinstance(v, (dict, list)):
                _fix_ids(v)
    elif isinstance(obj, list):
        for item in obj:
            _fix_ids(item)


def parse_json(data: bytes | str, message: M) -> M:
    """Parse an OTLP/JSON document into ``message`` (mutated and returned)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    return parse_json_obj(doc, message)


def parse_json_obj(doc: Any, message: M) -> M:
    if not isinstance(doc, dict):
        raise DecodeError("OTLP/JSON body must be a JSON object")
    try:
        _fix_ids(doc)
        json_format.ParseDict(doc, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError, AttributeError) as exc:
        raise DecodeError(f"invalid OTLP/JSON: {exc}") from None
    return message


def to_json(message: Message) -> bytes:
    return json_format.MessageToJson(message, indent=None).encode("utf-8")
