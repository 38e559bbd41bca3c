"""The self-contained HTML report: inline base64 PNG plots, every value HTML-escaped, no network."""

from __future__ import annotations

import base64
import html
import io
import json
import urllib.parse
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from infersight.analysis._diagnose import Diagnosis  # noqa: E402
from infersight.analysis._finding import Evidence, Finding  # noqa: E402
from infersight.analysis._term import PLAIN_TEXT_RC, clean  # noqa: E402

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.high{color:#b00020;font-weight:bold}.medium{color:#c77700}.low{color:#777}
img{max-width:100%}code,pre{background:#f7f7f7;padding:2px 4px;white-space:pre-wrap}"""


def _e(value: Any) -> str:
    if isinstance(value, float):
        value = round(value, 4)
    if isinstance(value, (dict, list)):
        value = json.dumps(value, default=str)
    # control/bidi characters from telemetry are shown as escapes (invalid in HTML, and the
    # report may end up in a terminal: ``cat report.html``)
    return html.escape(clean(value, newlines=True), quote=True)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _latency_plot(d: Diagnosis) -> str | None:
    ctx = d.context
    if ctx is None or ctx.requests.empty:
        return None
    series = ctx.p99_series()
    t = pd.to_datetime(series["ts_ns"], unit="ns")
    fig, ax = plt.subplots(figsize=(11, 3.6))
    ax.plot(t, series["p99"], color="#1f77b4", label="P99 latency (ms)")
    inc = ctx.incident
    if inc.baseline_ns:
        ax.axvspan(pd.Timestamp(inc.baseline_ns[0], unit="ns"), pd.Timestamp(inc.baseline_ns[1], unit="ns"),
                   color="#2ca02c", alpha=0.08, label="baseline")
    if inc.found and inc.onset_ns is not None:
        ax.axvspan(pd.Timestamp(inc.onset_ns, unit="ns"), pd.Timestamp(inc.end_ns or ctx.tel.until_ns, unit="ns"),
                   color="#d62728", alpha=0.06, label="incident")
    if ctx.baseline_p99:
        ax.axhline(ctx.baseline_p99, color="#2ca02c", ls="--", lw=1, label="baseline P99")
    labelled = False
    for f in d.findings:
        for s, e in f.windows:
            ax.axvspan(pd.Timestamp(s, unit="ns"), pd.Timestamp(e, unit="ns"), color="#ff7f0e", alpha=0.2,
                       label=None if labelled else "job runs")
            labelled = True
    gc = ctx.table("runtime_events")
    gc = gc[gc["kind"] == "gc"]
    if not gc.empty:
        ax.scatter(pd.to_datetime(gc["start_ns"], unit="ns"), gc["duration_ms"], s=10, color="#d62728",
                   label="GC pause (ms)", zorder=3)
    loop = ctx.table("runtime_events")
    loop = loop[loop["kind"] == "loop"]
    if not loop.empty:
        ax.scatter(pd.to_datetime(loop["start_ns"], unit="ns"), loop["duration_ms"], s=10, marker="x",
                   color="#9467bd", label="event-loop block (ms)", zorder=3)
    gpu = ctx.tel.query("detectors/gpu_steps", step_ns=ctx.step_ns, **ctx.tel.range_params)
    if not gpu.empty and gpu["util"].notna().any():
        ax2 = ax.twinx()
        for name, g in gpu.groupby("gpu"):
            ax2.plot(pd.to_datetime(g["ts_ns"], unit="ns"), g["util"] * 100, color="#7f7f7f", lw=1,
                     label=f"GPU {name} util %")
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("GPU %")
        ax2.legend(loc="upper right", fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title("Latency over time with job / GC / event-loop / GPU overlays")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def _before_after(d: Diagnosis, f: Finding) -> str | None:
    ctx = d.context
    if ctx is None:
        return None
    pairs = [(ev.kind, ev.value, ev.baseline) for ev in f.evidence
             if isinstance(ev.value, (int, float)) and isinstance(ev.baseline, (int, float))
             and not isinstance(ev.value, bool) and (ev.value or ev.baseline)]  # 0 vs 0 draws nothing
    if not pairs:
        return None
    ncols = min(5, len(pairs))
    nrows = -(-len(pairs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.flat[len(pairs):]:
        ax.axis("off")
    for ax, (kind, value, base) in zip(axes.flat, pairs, strict=False):
        ax.bar(["baseline", "observed"], [float(base), float(value)], color=["#2ca02c", "#d62728"])
        ax.set_title(kind.replace("_", " "), fontsize=8)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _png(fig)


def _latency_histogram(d: Diagnosis) -> str | None:
    ctx = d.context
    if ctx is None or ctx.requests.empty:
        return None
    inc, base = ctx.inc, ctx.base
    if not inc.any() or not base.any():
        return None
    fig, ax = plt.subplots(figsize=(11, 2.8))
    dur = ctx.requests["latency_ms"].to_numpy()
    sel = dur[inc | base]
    bins = np.logspace(np.log10(max(sel.min(), 0.01)), np.log10(max(sel.max(), 0.02)), 60)
    ax.hist(dur[base], bins=list(bins), color="#2ca02c", alpha=0.6, density=True, label="baseline")
    ax.hist(dur[inc], bins=list(bins), color="#d62728", alpha=0.6, density=True, label="incident")
    ax.set_xscale("log")
    # plain tick labels: with mathtext off (PLAIN_TEXT_RC) the log axis' default labels would
    # print as raw "$\\mathdefault{10^{2}}$"
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("request latency (ms)")
    ax.legend(fontsize=8)
    ax.set_title("Latency distribution: baseline vs incident")
    return _png(fig)


def _trace_ref(trace_id: str, trace_url: str | None) -> str:
    code = f"<code>{_e(trace_id)}</code>"
    if not trace_url:
        return code
    return f"<a href='{_e(trace_url.format(trace_id=urllib.parse.quote(trace_id, safe='')))}'>{code}</a>"


def _counterfactual(cf: Any, unit: str) -> str:
    """``{"sli_if_fixed": 139.0, "p99_excess_removed_share": 0.68}`` as a sentence."""
    if not isinstance(cf, dict):
        return _e(cf)
    parts = []
    if isinstance(cf.get("sli_if_fixed"), (int, float)):
        parts.append(f"about {_e(round(cf['sli_if_fixed'], 1))}{_e(unit)}")
    share = cf.get("p99_excess_removed_share")
    if isinstance(share, (int, float)):
        parts.append(f"{share:.0%} of the excess removed")
    rest = {k: v for k, v in cf.items() if k not in ("sli_if_fixed", "p99_excess_removed_share")}
    parts += [f"{_e(k.replace('_', ' '))} {_e(v)}" for k, v in rest.items()]
    return ", ".join(parts) if parts else "-"


def _evidence_rows(evidence: list[Evidence], trace_url: str | None = None) -> str:
    rows = []
    for ev in evidence:
        ex = ", ".join(_trace_ref(t, trace_url) for t in ev.exemplar_trace_ids[:5])
        value = f"<pre>{_e(ev.value)}</pre>" if isinstance(ev.value, str) and "\n" in ev.value else _e(ev.value)
        rows.append(f"<tr><td>{_e(ev.kind)}</td><td>{value}</td><td>{_e(ev.baseline)}</td><td>{ex}</td></tr>")
    return "".join(rows)


def _incident_html(d: Diagnosis) -> str:
    inc = d.incident
    if inc is None or not inc.found:
        why = inc.reason if inc else "no requests"
        return (f"<p><b>No incident found</b>: {_e(why)}. Nothing to explain: a finding is a change against a "
                "baseline.</p>")
    x = inc.to_dict()
    client = ""
    if d.client_p99_ms is not None and d.server_p99_ms is not None:
        client = (f" Client-seen P99 {_e(round(d.client_p99_ms, 1))} ms, server-span P99 "
                  f"{_e(round(d.server_p99_ms, 1))} ms.")
    return (f"<p><b>Incident</b> from {_e(x['onset'])} to {_e(x['end'])}: {_e(inc.reason)}. Baseline "
            f"{_e(x['baseline']['start'])} &ndash; {_e(x['baseline']['end'])} ({_e(inc.baseline_source)}); "
            f"P99 {_e(x['baseline']['p99_ms'])} &rarr; {_e(x['observed']['p99_ms'])} ms, error ratio "
            f"{_e(x['baseline']['error_ratio'])} &rarr; {_e(x['observed']['error_ratio'])}; scan p-value "
            f"{_e(inc.scan_p_value)}.{client}</p>")


def render(d: Diagnosis, *, trace_url: str | None = None) -> str:
    """The whole report as one HTML string.

    ``trace_url``: where an exemplar trace id links to, with ``{trace_id}`` in it (the
    collector's UI passes ``/ui/trace/{trace_id}``); without it ids are plain text.
    """
    with matplotlib.rc_context(PLAIN_TEXT_RC):  # telemetry text in plots is never mathtext
        return _render(d, trace_url)


def _render(d: Diagnosis, trace_url: str | None) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>infersight diagnosis</title>"
             f"<style>{_CSS}</style></head><body><h1>infersight diagnosis</h1>",
             f"<p>Source <code>{_e(d.source)}</code>, scope {_e(d.route or 'all routes')}, {_e(d.requests)} "
             f"requests; latency from {_e(d.latency_source)}.</p>", _incident_html(d)]
    img = _latency_plot(d)
    if img:
        parts.append(f"<img alt='latency over time' src='{img}'>")
    img = _latency_histogram(d)
    if img:
        parts.append(f"<img alt='latency distribution' src='{img}'>")
    if d.found and not d.findings:
        parts.append("<p>No finding explains the change with enough evidence.</p>")
    parts.append("<table><tr><th>#</th><th>category</th><th>confidence</th><th>P99 excess explained</th>"
                 "<th>root cause</th><th>title</th></tr>")
    for i, f in enumerate(d.findings, 1):
        parts.append(f"<tr><td>{i}</td><td>{_e(f.category)}</td><td class='{_e(f.level)}'>{_e(f.level)} "
                     f"({_e(round(f.confidence, 2))})</td><td>{_e(f'{f.excess_share:.0%}')}</td>"
                     f"<td>{_e(f.root_cause.entity)}</td><td>{_e(f.title)}</td></tr>")
    parts.append("</table>")
    for i, f in enumerate(d.findings, 1):
        parts.append(f"<h2>{i}. {_e(f.title)}</h2>")
        if f.chain:
            parts.append("<p><b>Causal chain:</b> " + " &rarr; ".join(_e(c) for c in f.chain) + "</p>")
        rc = f.root_cause
        parts.append(f"<p><b>Root cause:</b> {_e(rc.kind)} <code>{_e(rc.entity)}</code>: {_e(rc.state_change)} "
                     f"({_e(rc.start)} &ndash; {_e(rc.end)})</p>")
        unit = " ms" if str(f.symptom.sli).endswith("_ms") else ""
        parts.append(f"<p><b>Symptom:</b> {_e(f.symptom.sli)} {_e(f.symptom.baseline)} &rarr; "
                     f"{_e(f.symptom.observed)} ({_e(f.symptom.scope)}); effect size {_e(f.effect_size)}; "
                     f"if fixed: {_counterfactual(f.counterfactual, unit)}</p>")
        img = _before_after(d, f)
        if img:
            parts.append(f"<img alt='evidence' src='{img}'>")
        parts.append("<table><tr><th>evidence</th><th>value</th><th>baseline</th><th>exemplar traces</th></tr>"
                     + _evidence_rows(f.evidence, trace_url) + "</table>")
        parts.append("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in f.remediation) + "</ul>")
    if d.errors:
        parts.append("<h2>Detector errors</h2><ul>"
                     + "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in d.errors.items()) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
