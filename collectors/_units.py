"""Parsing of human sizes ("64MiB", "10GB") and durations ("7d", "12h", "30m", "45s")."""

from __future__ import annotations

import re

from ._errors import ConfigError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
               "t": 10**12, "tb": 10**12, "ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20,
               "gi": 1 << 30, "gib": 1 << 30, "ti": 1 << 40, "tib": 1 << 40}
_DUR_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_size(text: str) -> int:
    """Bytes from ``"64MiB"``, ``"10GB"``, ``"512k"`` or a plain number."""
    m = _SIZE.match(text)
    if not m or (m.group(2) or "").lower() not in _SIZE_UNITS:
        raise ConfigError(f"not a size: {text!r} (examples: 64MiB, 10GB, 1048576)")
    value = int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "").lower()])
    if value <= 0:
        raise ConfigError(f"size must be positive: {text!r}")
    return value


def parse_duration(text: str) -> float:
    """Seconds from ``"7d"``, ``"12h"``, ``"30m"``, ``"45s"`` or a plain number of seconds."""
    m = _DUR.match(text)
    if not m:
        raise ConfigError(f"not a duration: {text!r} (examples: 7d, 12h, 30m, 45s)")
    value = float(m.group(1)) * _DUR_UNITS[(m.group(2) or "").lower()]
    if value <= 0:
        raise ConfigError(f"duration must be positive: {text!r}")
    return value
