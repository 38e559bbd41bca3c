"""Statement-level passes of the ClickHouse rendering (``_dialect``): temp views expanded in place,
qualified stars spelled out, correlated scalar subqueries turned into joins, ``rowid`` kept out of
``SELECT *``, and a children-first tree walk for the node rewrites."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp


def _names(select: exp.Expression) -> list[str] | None:
    if not isinstance(select, exp.Select):
        return None
    out = [e.alias_or_name for e in select.expressions]
    return out if all(out) and len(set(out)) == len(out) else None


def _expand_views(tree: Any, views: Mapping[str, Any]) -> Any:
    """Replace each reference to a temp view by its body (itself expanded) as a subquery."""
    ctes = {c.alias for c in tree.find_all(exp.CTE)}

    def sub(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not node.args.get("db") and node.name in views \
                and node.name not in ctes:
            body = _expand_views(views[node.name].copy(), views)
            return exp.Subquery(this=body, alias=exp.TableAlias(this=exp.to_identifier(node.alias or node.name)))
        return node

    return tree.transform(sub, copy=False)


def _except_rowid(tree: exp.Expression, rowid_tables: frozenset[str]) -> None:
    for select in tree.find_all(exp.Select):
        sources = [t.name for t in select.find_all(exp.Table) if t.parent_select is select]
        if not any(s in rowid_tables for s in sources):
            continue
        for e in select.expressions:
            star = e if isinstance(e, exp.Star) else (e.this if isinstance(e, exp.Column) and
                                                       isinstance(e.this, exp.Star) else None)
            if star is not None and not star.args.get("except_"):
                star.set("except_", [exp.column("rowid")])


def _post_order(node: Any, fn: Any) -> Any:
    """Apply ``fn`` to every node, children first (a node ``fn`` returns is not visited again)."""
    for key, child in list(node.args.items()):
        if isinstance(child, exp.Expression):
            node.set(key, _post_order(child, fn))
        elif isinstance(child, list):
            node.set(key, [_post_order(c, fn) if isinstance(c, exp.Expression) else c for c in child])
    return fn(node)


def _source_names(source: Any, ctes: Mapping[str, Any]) -> list[str] | None:
    body = source.this if isinstance(source, exp.Subquery) else (
        ctes.get(source.name) if isinstance(source, exp.Table) and not source.args.get("db") else None)
    while isinstance(body, exp.Subquery):
        body = body.this
    return _names(body) if isinstance(body, exp.Select) else None


def _expand_stars(tree: Any) -> None:
    """``s.*`` over a subquery or CTE whose columns are known -> ``s.a AS a, s.b AS b, ...``:
    ClickHouse names the columns of ``s.*`` ``s.a`` next to a join, DuckDB names them ``a``."""
    ctes = {c.alias: c.this for c in tree.find_all(exp.CTE)}
    for select in list(tree.find_all(exp.Select)):
        sources = {}
        for src in [select.args.get("from_") and select.args["from_"].this,
                    *[j.this for j in select.args.get("joins") or []]]:
            if src is not None and src.alias_or_name:
                sources[src.alias_or_name] = src
        out: list[Any] = []
        changed = False
        for e in select.expressions:
            if isinstance(e, exp.Column) and isinstance(e.this, exp.Star) and e.table in sources:
                names = _source_names(sources[e.table], ctes)
                if names is not None:
                    skip = {c.name for c in e.this.args.get("except_") or []}
                    out.extend(exp.alias_(exp.column(n, table=e.table), n) for n in names if n not in skip)
                    changed = True
                    continue
            out.append(e)
        if changed:
            select.set("expressions", out)


_AGGS = (exp.Max, exp.Min, exp.Count, exp.Sum, exp.Avg)


def _only_table(cols: list[Any], name: str) -> bool:
    return bool(cols) and all(c.table == name for c in cols)


def _decorrelate(tree: Any) -> None:
    """``(SELECT agg(x) FROM t p WHERE p.a = m.a AND ...)`` inside a SELECT -> a LEFT JOIN of
    ``t`` grouped by the correlated keys (ClickHouse decorrelates only some shapes itself, and
    returns NULL, not 0, for a correlated count over no rows)."""
    for n, sub in enumerate(list(tree.find_all(exp.Subquery))):
        inner, outer = sub.this, sub.parent_select
        if sub.alias or isinstance(sub.parent, (exp.From, exp.Join)) or outer is None \
                or not isinstance(inner, exp.Select) or len(inner.expressions) != 1 \
                or not isinstance(inner.expressions[0].unalias(), _AGGS) or inner.args.get("joins") \
                or inner.args.get("group") or not inner.args.get("from_") or not outer.args.get("from_"):
            continue
        src = inner.args["from_"].this
        me = src.alias_or_name
        where = inner.args.get("where")
        conj = list(where.this.flatten()) if where is not None and isinstance(where.this, exp.And) else (
            [where.this] if where is not None else [])
        keys, rest = [], []
        for c in conj:
            cols = list(c.find_all(exp.Column))
            if _only_table(cols, me):
                rest.append(c)
                continue
            if not isinstance(c, exp.EQ):
                break
            lcols, rcols = list(c.this.find_all(exp.Column)), list(c.expression.find_all(exp.Column))
            if _only_table(lcols, me) and rcols and all(x.table and x.table != me for x in rcols):
                keys.append((c.this, c.expression))
            elif _only_table(rcols, me) and lcols and all(x.table and x.table != me for x in lcols):
                keys.append((c.expression, c.this))
            else:
                break
        else:
            if not keys:
                continue
            alias = f"__d{n}"
            derived = exp.select(*[exp.alias_(k.copy(), f"__k{i}") for i, (k, _) in enumerate(keys)],
                                 exp.alias_(inner.expressions[0].unalias().copy(), "__v"))
            derived = derived.from_(src.copy())
            if rest:
                derived = derived.where(exp.and_(*[r.copy() for r in rest]))
            derived = derived.group_by(*[exp.column(f"__k{i}") for i in range(len(keys))])
            on = exp.and_(*[exp.EQ(this=exp.column(f"__k{i}", table=alias), expression=o.copy())
                            for i, (_, o) in enumerate(keys)])
            outer.join(exp.Subquery(this=derived, alias=exp.TableAlias(this=exp.to_identifier(alias))),
                       on=on, join_type="LEFT", copy=False)
            value: exp.Expression = exp.column("__v", table=alias)
            if isinstance(inner.expressions[0].unalias(), exp.Count):
                value = exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])
            if outer.args.get("group"):
                value = exp.AnyValue(this=value)
            sub.replace(value)
