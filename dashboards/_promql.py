"""Find the metric names a PromQL expression reads, without a full PromQL parser.

Good enough for the queries we write: strings, label matchers, ``by``/``without``/``on``/
``ignoring``/``group_*`` label lists, range/offset durations and Grafana ``$variables`` are
removed first; what is left that looks like an identifier and is not a function call, keyword
or number is a metric name (or a recording-rule name, which contains ``:``).
"""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_VARS = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_NUMBER_LIKE = re.compile(r"^([0-9]|(inf|nan)$)", re.IGNORECASE)
_KEYWORDS = frozenset({
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "atan2", "inf", "nan", "e",
})
_DURATION_AFTER_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+")


def metric_names(expr: str) -> set[str]:
    """Metric (or recording-rule) names that ``expr`` selects."""
    s = _STRING.sub('""', expr)
    s = _VARS.sub("1", s)
    prev = None
    while prev != s:  # label matchers can't nest, but matcher-like text can repeat
        prev = s
        s = _MATCHERS.sub(" ", s)
    s = _LABEL_LISTS.sub(" ", s)
    s = _RANGES.sub(" ", s)
    s = _DURATION_AFTER_OFFSET.sub(" ", s)
    names: set[str] = set()
    for m in _IDENT.finditer(s):
        ident, call = m.group(1), m.group(2)
        if call or ident.lower() in _KEYWORDS or _NUMBER_LIKE.match(ident):
            continue
        names.add(ident)
    return names


def label_values_metric(query: str) -> set[str]:
    """Metric names read by a Grafana ``label_values(metric{...}, label)`` variable query."""
    m = re.match(r"\s*label_values\((.*),\s*\w+\s*\)\s*$", query, re.S)
    if not m:
        return metric_names(query)
    return metric_names(m.group(1))


_SELECTOR = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^{}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched on it) for every ``metric{...}`` selector in ``expr``."""
    s = _STRING.sub('""', expr)
    return [(m.group(1), set(_MATCHER_LABEL.findall(m.group(2)))) for m in _SELECTOR.finditer(s)]


def grouping_labels(expr: str) -> set[str]:
    """Labels named in ``by``/``without``/``on``/``ignoring``/``group_*`` clauses."""
    s = _STRING.sub('""', expr)
    return {lab.strip() for m in _GROUPING.finditer(s) for lab in m.group(2).split(",") if lab.strip()}
