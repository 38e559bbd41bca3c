"""One SQL source, two engines: the analysis' DuckDB-dialect SQL rendered for ClickHouse.

The ``.sql`` files under ``analysis/sql/`` are written once, in DuckDB's dialect. For ClickHouse
(a server, or chDB in process) :func:`to_clickhouse` transpiles a statement with SQLGlot and then
rewrites, on SQLGlot's syntax tree, what a plain transpilation gets wrong or leaves to the target:

* ``map['k']`` -> ``if(mapContains(map, 'k'), map['k'], NULL)`` (ClickHouse returns ``''`` for a
  missing key; DuckDB returns NULL, and the SQL relies on ``coalesce``/``IS NULL``)
* ``a // b`` -> ``intDiv(a, b)`` (SQLGlot divides as floats, which loses nanoseconds)
* ``quantile_cont``/``median`` -> ``quantileExactInclusive`` (interpolated like DuckDB's, never the
  sampled ``quantile``); ``mode`` -> ``topK(1)``; ``bool_or``/``bool_and`` -> ``max``/``min``
* ``list(x ORDER BY k)`` -> ``groupArray`` of ``(k, x)`` tuples sorted by ``k``;
  ``list(DISTINCT x ORDER BY x)`` -> ``arraySort(groupUniqArray(x))``
* ``list_zip``/``list_sum``, a lambda's ``e[i]`` on a zipped tuple -> ``tupleElement(e, i)``,
  ``len`` -> ``length``, ``hash`` -> ``cityHash64``, ``epoch_ns`` -> ``toUnixTimestamp64Nano``,
  ``TRY_CAST`` -> ``accurateCastOrNull``, ``lag`` -> a NULL-defaulting ``lag``
* several ``unnest(...)`` in one projection -> one ``arrayJoin(arrayZip(...))`` (DuckDB unnests
  them in parallel; separate ``arrayJoin`` calls would multiply rows);
  ``unnest(map_entries(m))`` -> ``arrayJoin`` of ``(key, value)`` named tuples
* ``SEMI JOIN`` -> ``LEFT SEMI JOIN``; ``UNION ALL BY NAME`` -> ``UNION ALL`` with the second
  projection reordered by name
* temp views are macros: a reference to one is replaced by its body as a subquery (ClickHouse has
  no session-scoped views); ``SELECT *`` from a table that carries a ``rowid`` column leaves it out
* ``$name`` parameters -> ``{name:Type}`` (server-side binding), the type from the bound value, or
  from the file's header comment (``$idx (BIGINT[])``) when the value is NULL or an empty list

Session settings the rendered SQL relies on are in :data:`CLICKHOUSE_SETTINGS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import sqlglot
from infersight.analysis._dialect_tree import (
    _decorrelate,
    _except_rowid,
    _expand_stars,
    _expand_views,
    _names,
    _post_order,
)
from infersight.analysis._errors import AnalysisError
from sqlglot import exp

#: settings under which ClickHouse evaluates the rendered SQL the way DuckDB does
CLICKHOUSE_SETTINGS: dict[str, Any] = {
    "join_use_nulls": 1,  # an unmatched LEFT JOIN row is NULL, not 0/''
    "prefer_column_name_to_alias": 1,  # WHERE ts_ns means the column, not a SELECT alias of that name
    "aggregate_functions_null_for_empty": 1,  # sum/avg over no rows is NULL (count stays 0)
    "allow_experimental_correlated_subqueries": 1,  # ClickHouse 25.x; on by default in 26
    "session_timezone": "UTC",
}

_DUCK_TO_CH = {"DOUBLE": "Float64", "FLOAT": "Float32", "BIGINT": "Int64", "INT": "Int32",
               "INTEGER": "Int32", "SMALLINT": "Int16", "TINYINT": "Int8", "UBIGINT": "UInt64",
               "UINTEGER": "UInt32", "VARCHAR": "String", "TEXT": "String", "BOOLEAN": "Bool"}


class UnsupportedSQL(AnalysisError, ValueError):
    """A DuckDB construct the ClickHouse rendering does not handle (say which, never guess)."""


def _fn(name: str, *args: Any) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _ch_type(dt: exp.DataType) -> str:
    name = dt.this.name if hasattr(dt.this, "name") else str(dt.this)
    if name not in _DUCK_TO_CH:
        raise UnsupportedSQL(f"TRY_CAST to {dt.sql('duckdb')} has no ClickHouse mapping")
    return _DUCK_TO_CH[name]


def _agg_list(node: exp.ArrayAgg) -> exp.Expression:
    inner = node.this
    if not isinstance(inner, exp.Order):
        return _fn("groupArray", inner)
    keys = [o for o in inner.expressions]
    if any(o.args.get("desc") for o in keys):
        raise UnsupportedSQL("list(... ORDER BY ... DESC) is not rendered for ClickHouse")
    value = inner.this
    if isinstance(value, exp.Distinct):
        (only,) = value.expressions
        if len(keys) != 1 or keys[0].this != only:
            raise UnsupportedSQL("list(DISTINCT x ORDER BY y) needs y = x for ClickHouse")
        return _fn("arraySort", _fn("groupUniqArray", only))
    key = keys[0].this if len(keys) == 1 else exp.Tuple(expressions=[k.this for k in keys])
    pairs = _fn("groupArray", exp.Tuple(expressions=[key, value]))
    t = exp.to_identifier("__t")
    first = exp.Lambda(this=_fn("tupleElement", t.copy(), exp.Literal.number(1)), expressions=[t.copy()])
    second = exp.Lambda(this=_fn("tupleElement", t.copy(), exp.Literal.number(2)), expressions=[t.copy()])
    return _fn("arrayMap", second, _fn("arraySort", first, pairs))


def _bracket(node: exp.Bracket) -> exp.Expression:
    (key,) = node.expressions
    if isinstance(key, exp.Literal) and key.is_string:
        target = node.this
        return exp.If(this=_fn("mapContains", target.copy(), key.copy()),
                      true=_fn("arrayElement", target.copy(), key.copy()), false=exp.Null())
    if isinstance(node.this, exp.Identifier) and isinstance(key, exp.Literal):
        # a lambda's variable: a tuple of list_zip/arrayZip, indexed 1-based in DuckDB SQL
        # (SQLGlot stores the DuckDB index 0-based)
        return _fn("tupleElement", node.this.copy(), exp.Literal.number(int(key.this) + 1))
    return node


def _lag(node: exp.Window) -> exp.Expression:
    lag = node.this
    if isinstance(lag, exp.Lag) and not lag.args.get("default"):
        node = node.copy()
        node.set("this", _fn("lag", _fn("toNullable", lag.this.copy()),
                             *([lag.args["offset"].copy()] if lag.args.get("offset") else [])))
    return node


def _rewrite(node: exp.Expression) -> exp.Expression:  # noqa: C901 - one dispatch table
    if isinstance(node, exp.IntDiv):
        return _fn("intDiv", node.this, node.expression)
    if isinstance(node, exp.Bracket):
        return _bracket(node)
    if isinstance(node, (exp.Cast, exp.TryCast)) and node.args["to"].is_type(*exp.DataType.INTEGER_TYPES) \
            and isinstance(node.this, (exp.Binary, exp.Cast, exp.TryCast, exp.Anonymous)) \
            and not isinstance(node.this, exp.DPipe):
        # DuckDB rounds a DOUBLE cast to an integer, ClickHouse truncates
        node.set("this", exp.Round(this=node.this))
    if isinstance(node, exp.TryCast):
        return _fn("accurateCastOrNull", node.this, exp.Literal.string(_ch_type(node.args["to"])))
    if isinstance(node, exp.PercentileCont):
        return exp.ParameterizedAgg(this=exp.to_identifier("quantileExactInclusive"),
                                    expressions=[node.expression], params=[node.this])
    if isinstance(node, exp.Median):
        return exp.ParameterizedAgg(this=exp.to_identifier("quantileExactInclusive"),
                                    expressions=[exp.Literal.number(0.5)], params=[node.this])
    if isinstance(node, exp.Mode):
        return exp.Bracket(this=exp.ParameterizedAgg(this=exp.to_identifier("topK"),
                                                     expressions=[exp.Literal.number(1)], params=[node.this]),
                           expressions=[exp.Literal.number(0)])
    if isinstance(node, (exp.StddevSamp, exp.Stddev)):
        return _fn("stddevSampStable", node.this)  # Welford, as DuckDB: no cancellation on ns gaps
    if isinstance(node, exp.LogicalOr):
        return exp.Max(this=node.this)
    if isinstance(node, exp.LogicalAnd):
        return exp.Min(this=node.this)
    if isinstance(node, exp.ArrayAgg):
        return _agg_list(node)
    if isinstance(node, exp.Length):
        return _fn("length", node.this)
    if isinstance(node, exp.Window):
        return _lag(node)
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        args = node.expressions
        if name == "hash":
            return _fn("cityHash64", *args)
        if name == "epoch_ns":
            return _fn("toUnixTimestamp64Nano", _fn("toDateTime64", args[0], exp.Literal.number(9)))
        if name == "list_zip":
            return _fn("arrayZip", *args)
        if name == "list_sum":
            return _fn("arraySum", *args)
        if name == "map_entries":
            return exp.Cast(this=args[0], to=exp.DataType.build(
                "Array(Tuple(key String, value String))", dialect="clickhouse"))
    if isinstance(node, exp.Join) and node.args.get("kind") in ("SEMI", "ANTI") and not node.side:
        node.set("side", "LEFT")
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.Anonymous) \
            and node.this.name in ("arraySort", "arrayMap"):
        # list(... ORDER BY ...) FILTER (WHERE c): the filter belongs to the inner aggregate
        outer = node.this
        agg = next(a for a in outer.find_all(exp.Anonymous) if a.name in ("groupArray", "groupUniqArray"))
        agg.replace(exp.Filter(this=agg.copy(), expression=node.expression))
        return outer
    if isinstance(node, exp.With) and node.args.get("recursive"):
        # ClickHouse recurses only with UNION ALL; parent chains are acyclic and the statements
        # de-duplicate what they read (a malformed cycle stops at max_recursive_cte_evaluation_depth)
        for cte in node.expressions:
            if isinstance(cte.this, exp.Union) and cte.this.args.get("distinct"):
                cte.this.set("distinct", False)
    if isinstance(node, exp.Select):
        _zip_unnests(node)
        _name_qualified(node)
        _bool_projections(node)
        _order_by_aliases(node)
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        return _union_by_name(node)
    return node


def _zip_unnests(select: exp.Select) -> None:
    """DuckDB unnests several lists of one row in parallel; ClickHouse's arrayJoin calls would
    multiply. Rewrite ``unnest(a) AS x, unnest(b) AS y`` to one arrayJoin over arrayZip(a, b)."""
    found = [(i, e) for i, e in enumerate(select.expressions)
             if isinstance(e, exp.Alias) and isinstance(e.this, (exp.Explode, exp.Unnest))]
    if len(found) < 2:
        return
    z = exp.to_identifier("__z")
    arrays = [e.this.this if isinstance(e.this, exp.Explode) else e.this.expressions[0] for _, e in found]
    joined = exp.Alias(this=_fn("arrayJoin", _fn("arrayZip", *[a.copy() for a in arrays])), alias=z.copy())
    for k, (i, e) in enumerate(found):
        item = _fn("tupleElement", joined if k == 0 else exp.column(z.copy()), exp.Literal.number(k + 1))
        select.expressions[i] = exp.Alias(this=item, alias=e.args["alias"].copy())


def _order_by_aliases(select: exp.Select) -> None:
    """DuckDB's ORDER BY names a SELECT alias before a column of the same name
    (``coalesce(generation, -1) AS generation ... ORDER BY generation``); ClickHouse, under
    ``prefer_column_name_to_alias``, would take the column: order by the expression itself."""
    order = select.args.get("order")
    if order is None:
        return
    by_alias = {e.alias: e.unalias() for e in select.expressions if isinstance(e, exp.Alias)}
    for o in order.expressions:
        col = o.this
        if isinstance(col, exp.Column) and not col.table and col.name in by_alias:
            target = by_alias[col.name]
            if not (isinstance(target, exp.Column) and target.name == col.name):
                o.set("this", target.copy())


def _is_bool(e: Any) -> bool:
    if isinstance(e, exp.Paren):
        return _is_bool(e.this)
    if isinstance(e, (exp.Predicate, exp.Connector, exp.Not)):
        return True
    if isinstance(e, exp.Case):
        outs = [i.args.get("true") for i in e.args.get("ifs") or []] + (
            [e.args["default"]] if e.args.get("default") is not None else [])
        return bool(outs) and all(_is_bool(o) or isinstance(o, exp.Null) for o in outs)
    return False


def _bool_projections(select: exp.Select) -> None:
    """ClickHouse predicates return UInt8; DuckDB's are BOOLEAN (``~df.hit`` must stay a negation)."""
    for i, e in enumerate(select.expressions):
        inner = e.unalias()
        if _is_bool(inner):
            wrapped = _fn("toBool", inner.copy())
            select.expressions[i] = exp.alias_(wrapped, e.alias) if e.alias else wrapped


def _name_qualified(select: exp.Select) -> None:
    """``SELECT w.span_id`` is column ``span_id`` in DuckDB but ``w.span_id`` in ClickHouse."""
    for i, e in enumerate(select.expressions):
        if isinstance(e, exp.Column) and e.table and not isinstance(e.this, exp.Star):
            select.expressions[i] = exp.Alias(this=e, alias=exp.to_identifier(e.name))


def _union_by_name(node: exp.Union) -> exp.Expression:
    left, right = node.this, node.expression
    ln, rn = _names(left), _names(right)
    if ln is None or rn is None or set(ln) != set(rn):
        raise UnsupportedSQL("UNION ALL BY NAME needs two SELECTs with the same named columns")
    by = {n: e for n, e in zip(rn, right.expressions, strict=True)}
    right = right.copy()
    right.set("expressions", [by[n].copy() for n in ln])
    return exp.Union(this=left, expression=right, distinct=node.args.get("distinct"))


@lru_cache(maxsize=512)
def _render(sql: str, views: tuple[tuple[str, str], ...], rowid_tables: frozenset[str]) -> str:
    tree = sqlglot.parse_one(sql, read="duckdb")
    parsed = {name: sqlglot.parse_one(body, read="duckdb") for name, body in views}
    tree = _expand_views(tree, parsed)
    _expand_stars(tree)
    _decorrelate(tree)
    tree = _post_order(tree, _rewrite)
    _except_rowid(tree, rowid_tables)
    return tree.sql(dialect="clickhouse")


def to_clickhouse(sql: str, *, views: Mapping[str, str] | None = None,
                  rowid_tables: frozenset[str] = frozenset()) -> str:
    """Render one DuckDB-dialect statement for ClickHouse; ``views`` maps temp-view names to their
    DuckDB ``SELECT`` (expanded in place); ``$x`` parameters become ``{x: }`` for :func:`bind`."""
    return _render(sql, tuple(sorted((views or {}).items())), rowid_tables)


_HINT = re.compile(r"\$(\w+)\s*\(([A-Z]+)(\[\])?")
_PLACEHOLDER = re.compile(r"\{(\w+): \}")


def param_hints(duck_sql: str) -> dict[str, str]:
    """ClickHouse types declared in a SQL file's header comment (``$idx (BIGINT[])``)."""
    hints: dict[str, str] = {}
    for name, base, arr in _HINT.findall(duck_sql):
        if base in _DUCK_TO_CH:
            ch = _DUCK_TO_CH[base]
            hints[name] = f"Array({ch})" if arr else f"Nullable({ch})"
    return hints


def _value_type(value: Any, hint: str | None) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, float):
        return "Float64"
    if isinstance(value, str):
        return "Nullable(String)"
    if value is None:
        return hint if hint and not hint.startswith("Array") else "Nullable(String)"
    if isinstance(value, (list, tuple)):
        kinds = {_value_type(v, None) for v in value if v is not None}
        if not kinds:
            return hint if hint and hint.startswith("Array") else "Array(String)"
        if kinds <= {"Int64", "Bool"}:
            return "Array(Int64)"
        if kinds <= {"Int64", "Float64"}:
            return "Array(Float64)"
        return "Array(String)" if kinds == {"Nullable(String)"} else "Array(" + kinds.pop() + ")"
    raise UnsupportedSQL(f"cannot bind a {type(value).__name__} parameter for ClickHouse")


def bind(ch_sql: str, params: Mapping[str, Any], hints: Mapping[str, str] | None = None) -> str:
    """Give each ``{x: }`` placeholder its ClickHouse type from the value bound to it."""
    def typed(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in params:
            raise KeyError(f"no value bound for ${name}")
        return "{" + name + ":" + _value_type(params[name], (hints or {}).get(name)) + "}"

    return _PLACEHOLDER.sub(typed, ch_sql)


def placeholders(ch_sql: str) -> set[str]:
    return set(_PLACEHOLDER.findall(ch_sql)) | set(re.findall(r"\{(\w+):[^}]+\}", ch_sql))


__all__ = ["CLICKHOUSE_SETTINGS", "UnsupportedSQL", "bind", "param_hints", "placeholders", "to_clickhouse"]
