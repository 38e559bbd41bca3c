"""OTLP AnyValue -> string the way the ClickHouse exporter stores attributes, plus Arrow MAP builders.

Strings as-is, bools ``true``/``false``, ints in decimal, doubles in shortest round-trip form
(integral doubles without ``.0``, like Go's ``FormatFloat(f, 'f', -1, 64)``), bytes as base64,
arrays and key-value lists as compact JSON. Duplicate keys in one attribute list keep the last.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

_MAP_TYPE = pa.map_(pa.string(), pa.string())


def fmt_double(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    r = repr(x)
    if "e" in r:  # Go's 'f' format never uses an exponent
        return format(x, "f").rstrip("0").rstrip(".") if abs(x) >= 1 else f"{x:.{_decimals(r)}f}"
    return r


def _decimals(r: str) -> int:
    mant, _, exp = r.partition("e")
    digits = len(mant.replace("-", "").replace(".", "")) - 1
    return max(0, digits - int(exp))


def _to_json(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_to_json(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _to_json(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    if kind == "double_value":
        d = v.double_value
        return d if math.isfinite(d) else fmt_double(d)
    return getattr(v, kind)


def any_to_str(v: Any) -> str:
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return str(v.string_value)
    if kind == "int_value":
        return str(v.int_value)
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "double_value":
        return fmt_double(v.double_value)
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    if kind is None:
        return ""
    return json.dumps(_to_json(v), separators=(",", ":"), ensure_ascii=False)


def attrs_dict(kvs: Iterable[Any]) -> dict[str, str]:
    return {kv.key: any_to_str(kv.value) for kv in kvs}


class MapColumn:
    """Builds one MAP(VARCHAR, VARCHAR) Arrow column row by row."""

    __slots__ = ("offsets", "keys", "values")

    def __init__(self) -> None:
        self.offsets: list[int] = [0]
        self.keys: list[str] = []
        self.values: list[str] = []

    def add_kvs(self, kvs: Any) -> None:
        if len(kvs):
            d = attrs_dict(kvs)
            self.keys.extend(d)
            self.values.extend(d.values())
        self.offsets.append(len(self.keys))

    def add_dict(self, d: dict[str, str]) -> None:
        self.keys.extend(d)
        self.values.extend(d.values())
        self.offsets.append(len(self.keys))

    def array(self) -> pa.Array:
        return pa.MapArray.from_arrays(
            pa.array(self.offsets, pa.int32()),
            pa.array(self.keys, pa.string()),
            pa.array(self.values, pa.string()),
        )


class ListColumn:
    """Builds one LIST column (``Events.Name`` etc.): ``add(values)`` per row."""

    __slots__ = ("offsets", "items", "type")

    def __init__(self, type_: pa.DataType) -> None:
        self.offsets: list[int] = [0]
        self.items: list[Any] = []
        self.type = type_

    def add(self, values: Iterable[Any]) -> None:
        self.items.extend(values)
        self.offsets.append(len(self.items))

    def array(self) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()),
                                        pa.array(self.items, self.type))


class ListOfMapColumn:
    """A LIST(MAP(VARCHAR, VARCHAR)) column (``Events.Attributes``)."""

    __slots__ = ("offsets", "inner")

    def __init__(self) -> None:
        self.offsets: list[int] = [0]
        self.inner = MapColumn()

    def add(self, kv_lists: Iterable[Any]) -> None:
        n = 0
        for kvs in kv_lists:
            self.inner.add_kvs(kvs)
            n += 1
        self.offsets.append(self.offsets[-1] + n)

    def array(self) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(self.offsets, pa.int32()), self.inner.array())
