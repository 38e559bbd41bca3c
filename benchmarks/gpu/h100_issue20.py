"""Issue 20 on a real GPU: GPU attribution on a shared GPU, CPU fallback, memory pressure, cost.

One command on the GPU machine (everything in $OUT; ~7 min on an H100 with the defaults):

    python3 benchmarks/gpu/h100_issue20.py run --out "$OUT"

then, on the CPU machine with the repo's venv (imports each phase's OTLP dump into DuckDB and
runs ``infersight diagnose --json`` on it):

    .venv/bin/python benchmarks/gpu/h100_issue20.py diagnose --from <the run's $OUT>

``run --fake`` dry-runs every phase on this CPU machine with the fake NVML of
tests/instrument/gpu/ (a world model moves it: engine busy time, a burner, a hog) and runs the
diagnose step at the end. Phases (``--phases a,b``), each in its own processes:

* ``cost``: sampler and plane CPU under moderate open-loop load, GPU plane on/off alternated
  (off, on, on, off, ...; ``/proc/<pid>/stat`` of the server), plus the cold cost of the reads
  issue 20 added (per-process utilisation, compute processes, torch.cuda.memory_stats);
* ``open_loop``: energy on request spans vs the device counter at moderate open-loop load;
* ``saturation``: the same with 16 closed-loop clients;
* ``colocated``: a matmul burner process runs on the same GPU in the middle third;
* ``cpu_fallback``: the model moves to the CPU in the middle third (``declare_model_device``);
* ``memory_pressure``: a hog process takes the free GPU memory in the middle third; the engine
  hits OOMs, reports them (``record_gpu_oom``) and backs off.

Each phase writes ``<phase>/result.json``, ``traces.otlp.pb`` / ``metrics.otlp.pb`` (OTLP as the
file exporter frames it), ``client.csv`` (client-side truth from the scheduled send time),
``server.log``; the summary is ``issue20_h100.json`` (``issue20_fake.json`` with ``--fake``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _issue20_analyse import ledger_delta, prom_lines, segment, server_spans  # noqa: E402
from _issue20_load import Load, OtlpFileReceiver  # noqa: E402
from _issue20_procs import BURNER, HOG, IDLE_PROC, Server, Side, calibrate  # noqa: E402

PHASES = ("cost", "open_loop", "saturation", "colocated", "cpu_fallback", "memory_pressure")
# --- phases ------------------------------------------------------------------------------------
class Ctx:
    def __init__(self, out: Path, fake: bool, scale: float) -> None:
        self.out, self.fake, self.scale = out, fake, scale

    def seconds(self, s: float) -> float:
        return max(3.0, s * self.scale)


def _three_segments(ctx: Ctx, name: str, total_s: float, start: Any, stop: Any,
                    n_during: int = 512) -> dict[str, Any]:
    """Open loop at a moderate rate for ``total_s``; ``start()``/``stop()`` bracket the middle third
    (whose requests ask for ``n_during`` tokens). Returns before/during/after numbers from spans,
    client truth, ledger snapshots, and /metrics as it was at the end of the middle third."""
    out = ctx.out
    with OtlpFileReceiver(out) as rx:
        srv = Server(out, rx.url, fake=ctx.fake)
        load = Load(srv.base, rx.url)
        try:
            cal = calibrate(srv, rx)
            third = total_s / 3
            marks: dict[str, Any] = {}
            t0 = time.time_ns()

            def label(i: int, t: float) -> str:
                return "before" if t < third else "during" if t < 2 * third else "after"

            import threading

            def driver() -> None:
                time.sleep(third)
                marks["started"] = start(srv)  # a co-located process is running from here
                marks["start"] = (time.time_ns(), srv.stats())
                time.sleep(max(1.0, 2 * third - (time.time_ns() - t0) / 1e9))
                marks["stop"] = (time.time_ns(), srv.stats())
                marks["metrics_during"] = srv.call("GET", "/metrics")[1]
                stop(srv, marks["started"])
                marks["stopped"] = time.time_ns()

            snap0 = srv.stats()
            th = threading.Thread(target=driver)
            th.start()
            load.open_loop(cal["rate_rps"], total_s, label,
                           lambda i, t: f"n={n_during if third <= t < 2 * third else 512}")
            th.join()
            snap3 = srv.stats()
            metrics_text = srv.call("GET", "/metrics")[1]
        finally:
            srv.stop()
            load.close()
        time.sleep(1.0)  # the last OTLP posts land
    load.write_csv(out / "client.csv")
    spans = server_spans(out)
    t1, s1 = marks["start"]
    t2, s2 = marks["stop"]
    t3 = time.time_ns()
    seg = {"before": segment(spans, load.samples, t0, t1), "during": segment(spans, load.samples, t1, t2),
           "after": segment(spans, load.samples, t2, t3),
           "inside_during": segment(spans, load.samples, t1, t2, inside=True)}
    ledger = {"before": ledger_delta(snap0, s1), "during": ledger_delta(s1, s2), "after": ledger_delta(s2, snap3)}
    changes = [{"t": s["start"], **{k: v for k, v in s["attrs"].items() if k.startswith("infersight.model")}}
               for s in spans if s["name"] == "infersight.model.device_change"]
    return {"phase": name, "calibration": cal, "seconds": total_s, "segments": seg, "ledger": ledger,
            "device_changes": changes, "final_stats": snap3, "otlp_posts": rx.counts,
            "prometheus_during": _gpu_lines(marks["metrics_during"]), "prometheus": _gpu_lines(metrics_text)}


def _gpu_lines(text: str) -> list[str]:
    return prom_lines(text, "infersight_gpu_process_", "infersight_gpu_consumer_",
                                     "infersight_gpu_allocation_failures", "infersight_model_device",
                      "infersight_gpu_share_measured", "infersight_torch_cuda_available")


def _burner(ctx: Ctx) -> Any:
    def start(srv: Server) -> Side:
        side = Side(IDLE_PROC if ctx.fake else BURNER)
        if ctx.fake:
            srv.call("POST", f"/_bench/fake?burner={side.pid}")
        return side

    def stop(srv: Server, side: Side) -> None:
        if ctx.fake:
            srv.call("POST", "/_bench/fake?burner=0")
        side.stop()

    return start, stop


def phase_colocated(ctx: Ctx) -> dict[str, Any]:
    start, stop = _burner(ctx)
    r = _three_segments(ctx, "colocated", ctx.seconds(45), start, stop)
    b, d = r["segments"]["before"], r["segments"]["during"]
    other = r["ledger"]["during"].get("other_share")
    r["checks"] = {
        "j_per_request_during_within_2x_of_before": bool(b["energy_j_per_request"] and d["energy_j_per_request"]
                                                         and d["energy_j_per_request"] < 2 * b["energy_j_per_request"]),
        "other_consumer_gets_most_energy_during": bool(other and other > 0.5),
        "other_process_named": any('consumer="other"' in ln and 'process_name=""' not in ln
                                   for ln in r["prometheus_during"] if ln.startswith("infersight_gpu_process_energy")),
        "conserved_within_3pct": _conserved(r["ledger"]["during"]),
    }
    return r


def phase_cpu_fallback(ctx: Ctx) -> dict[str, Any]:
    def start(srv: Server) -> str:
        return str(srv.call("POST", "/_bench/device?to=cpu")[1])

    def stop(srv: Server, _: Any) -> None:
        srv.call("POST", "/_bench/device?to=cuda", timeout=120)

    r = _three_segments(ctx, "cpu_fallback", ctx.seconds(45), start, stop)
    # requests served entirely while the model was on the CPU (queued ones ran on the GPU later)
    b, d = r["segments"]["before"], r["segments"]["inside_during"]
    r["checks"] = {
        "cpu_requests_billed_under_5pct": bool(b["energy_j_per_request"] and d["energy_j_per_request"] is not None
                                               and d["energy_j_per_request"] < 0.05 * b["energy_j_per_request"]),
        "device_change_spans_cpu_then_cuda": [c.get("infersight.model.device") for c in r["device_changes"]][-2:]
        == ["cpu", "cuda:0"],
        "spans_carry_the_cpu_device": d["model_devices"] == ["cpu"],
    }
    return r


def phase_memory_pressure(ctx: Ctx) -> dict[str, Any]:
    def start(srv: Server) -> Side:
        # torch keeps freed blocks cached: without this the server already holds the memory its big
        # requests need (the first H100 run: 4.2 GB reserved, no OOM while the hog held the rest)
        srv.call("POST", "/_bench/release")
        side = Side(IDLE_PROC if ctx.fake else HOG)
        if ctx.fake:
            srv.call("POST", f"/_bench/fake?hog={side.pid}")
        return side

    def stop(srv: Server, side: Side) -> None:
        if ctx.fake:
            srv.call("POST", "/_bench/fake?hog=0")
        side.stop()

    # big requests in the middle third: new allocations the hog leaves no room for
    r = _three_segments(ctx, "memory_pressure", ctx.seconds(36), start, stop, n_during=131072)
    d = r["segments"]["during"]
    r["checks"] = {
        "ooms_or_retries_on_spans": d["ooms_on_spans"] + d["alloc_retries_on_spans"] > 0,
        "holder_named_in_process_memory": any('consumer="other"' in ln and 'process_name=""' not in ln
                                              for ln in r["prometheus_during"]
                                              if ln.startswith("infersight_gpu_process_memory")),
    }
    return r


def _conserved(ledger: dict[str, Any]) -> bool:
    x = ledger.get("self_other_idle_over_counter")
    return x is not None and abs(x - 1.0) < 0.03


def _steady(ctx: Ctx, name: str, seconds: float, clients: int | None) -> dict[str, Any]:
    out = ctx.out
    with OtlpFileReceiver(out) as rx:
        srv = Server(out, rx.url, fake=ctx.fake)
        load = Load(srv.base, rx.url)
        try:
            cal = calibrate(srv, rx)
            a = srv.stats()
            t0 = time.time_ns()
            if clients is None:
                load.open_loop(cal["rate_rps"], seconds, lambda i, t: name, lambda i, t: "n=512")
            else:
                load.closed_loop(clients, seconds, lambda i, t: name, lambda i, t: "n=512")
            t1 = time.time_ns()
            b = srv.stats()
        finally:
            srv.stop()
            load.close()
        time.sleep(1.0)
    load.write_csv(out / "client.csv")
    seg = segment(server_spans(out), load.samples, t0, t1)
    led = ledger_delta(a, b)
    spans_over_counter = seg["energy_j_sum"] / led["counter_j"] if led.get("counter_j") else None
    return {"phase": name, "calibration": cal, "load": "open" if clients is None else f"closed x{clients}",
            "seconds": seconds, "segment": seg, "ledger": led, "spans_over_counter": spans_over_counter,
            "otlp_posts": rx.counts,
            "checks": {"conserved_within_3pct": _conserved(led),
                       "spans_plus_idle_plus_other_within_5pct": bool(
                           led.get("attributed_idle_other_over_counter")
                           and abs(led["attributed_idle_other_over_counter"] - 1) < 0.05)}}


def phase_cost(ctx: Ctx) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    order = [False, True, True, False]  # ABBA: a linear drift of the machine cancels out
    callcost: dict[str, Any] = {}
    for i, on in enumerate(order):
        run_out = ctx.out / f"run{i}_{'on' if on else 'off'}"
        run_out.mkdir(parents=True, exist_ok=True)
        with OtlpFileReceiver(run_out) as rx:
            srv = Server(run_out, rx.url, fake=ctx.fake, gpu_plane=on)
            load = Load(srv.base, rx.url)
            try:
                cal = calibrate(srv, rx)
                a, c0, w0 = srv.stats(), srv.cpu_s(), time.monotonic()
                load.open_loop(cal["rate_rps"], ctx.seconds(20), lambda i, t: "cost", lambda i, t: "n=512")
                wall, cpu = time.monotonic() - w0, srv.cpu_s() - c0
                b = srv.stats()
                if on and not callcost:
                    callcost = dict(srv.call("GET", "/_bench/callcost", timeout=120)[1])
            finally:
                srv.stop()
                load.close()
        run = {"gpu_plane": on, "rate_rps": cal["rate_rps"], "seconds": wall,
               "requests_ok": sum(1 for s in load.samples if s.status == 200 and s.label == "cost"),
               "server_cpu_pct_of_core": 100 * cpu / wall}
        if on:
            run["sampler_cpu_pct_of_core"] = 100 * (b["sampler_cpu_s"] - a["sampler_cpu_s"]) / wall
            run["sweeps_per_s"] = (b["sweeps"] - a["sweeps"]) / wall
        runs.append(run)
    on_cpu = [r["server_cpu_pct_of_core"] for r in runs if r["gpu_plane"]]
    off_cpu = [r["server_cpu_pct_of_core"] for r in runs if not r["gpu_plane"]]
    sampler = [r["sampler_cpu_pct_of_core"] for r in runs if r["gpu_plane"]]
    return {"phase": "cost", "order": order, "runs": runs, "callcost_cold_us": callcost,
            "server_cpu_pct_on_mean": sum(on_cpu) / len(on_cpu), "server_cpu_pct_off_mean": sum(off_cpu) / len(off_cpu),
            "plane_cpu_pct_of_core_on_minus_off": sum(on_cpu) / len(on_cpu) - sum(off_cpu) / len(off_cpu),
            "sampler_cpu_pct_of_core_mean": sum(sampler) / len(sampler)}


def run_phase(name: str, out: Path, fake: bool, scale: float) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(out, fake, scale)
    fns = {"cost": lambda: phase_cost(ctx),
           "open_loop": lambda: _steady(ctx, "open_loop", ctx.seconds(40), None),
           "saturation": lambda: _steady(ctx, "saturation", ctx.seconds(20), 16),
           "colocated": lambda: phase_colocated(ctx), "cpu_fallback": lambda: phase_cpu_fallback(ctx),
           "memory_pressure": lambda: phase_memory_pressure(ctx)}
    t0 = time.monotonic()
    try:
        result = fns[name]()
    except Exception:
        result = {"phase": name, "error": traceback.format_exc()}
    result["phase_wall_s"] = time.monotonic() - t0
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    return result


# --- orchestration -----------------------------------------------------------------------------
def _env(fake: bool) -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                           "kernel": platform.release(), "fake_nvml": fake}
    if not fake:
        try:
            import pynvml
            import torch

            pynvml.nvmlInit()
            h = pynvml.nvmlDeviceGetHandleByIndex(0)
            env.update({"torch": torch.__version__, "gpu": str(pynvml.nvmlDeviceGetName(h)),
                        "driver": str(pynvml.nvmlSystemGetDriverVersion())})
        except Exception as exc:
            env["probe_error"] = repr(exc)
    return env


def cmd_run(args: argparse.Namespace) -> int:
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    phases = [p for p in args.phases.split(",") if p]
    unknown = set(phases) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phase(s) {sorted(unknown)}; choose from {PHASES}")
    summary: dict[str, Any] = {"command": " ".join(["python3", "benchmarks/gpu/h100_issue20.py", *sys.argv[1:]]),
                               "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                               "env": _env(args.fake), "phases": {}}
    path = out / ("issue20_fake.json" if args.fake else "issue20_h100.json")
    for name in phases:
        t0 = time.monotonic()
        cmd = [sys.executable, str(Path(__file__).resolve()), "phase", name, "--out", str(out / name),
               "--scale", str(args.scale)] + (["--fake"] if args.fake else [])
        try:
            subprocess.run(cmd, timeout=args.phase_timeout, check=False)
        except subprocess.TimeoutExpired:
            pass
        res_file = out / name / "result.json"
        res = json.loads(res_file.read_text()) if res_file.exists() else {"error": "no result (timeout?)"}
        summary["phases"][name] = res
        print(f"== {name}: {time.monotonic() - t0:.0f}s checks={res.get('checks')}"
              f"{' ERROR' if 'error' in res else ''}", flush=True)
        path.write_text(json.dumps(summary, indent=1, default=str))
    checks = {f"{p}.{k}": v for p, r in summary["phases"].items() for k, v in (r.get("checks") or {}).items()}
    summary["checks"] = checks
    summary["all_checks_pass"] = bool(checks) and all(checks.values()) and not any(
        "error" in r for r in summary["phases"].values())
    path.write_text(json.dumps(summary, indent=1, default=str))
    if args.fake:  # this CPU machine has the collector and analysis: diagnose the dry run too
        cmd_diagnose(argparse.Namespace(source=out))
    print(json.dumps({"checks": checks, "all_checks_pass": summary["all_checks_pass"]}, indent=1))
    return 0 if summary["all_checks_pass"] else 1


def cmd_diagnose(args: argparse.Namespace) -> int:
    """For every phase dump under --from: import into DuckDB, run ``infersight diagnose --json``."""
    cli = Path(sys.executable).parent / "infersight"
    exe = str(cli) if cli.exists() else (shutil.which("infersight") or "infersight")
    src: Path = args.source
    results: dict[str, Any] = {}
    for traces in sorted(src.glob("*/traces.otlp.pb")):
        d = traces.parent
        db = d / "telemetry.duckdb"
        db.unlink(missing_ok=True)
        files = [str(p) for p in (traces, d / "metrics.otlp.pb") if p.exists()]
        imp = subprocess.run([exe, "import", "--db", str(db), *files], capture_output=True, text=True)
        diag = subprocess.run([exe, "diagnose", "--db", str(db), "--json"], capture_output=True, text=True)
        try:
            found = json.loads(diag.stdout)
        except ValueError:
            found = {"error": (diag.stderr or diag.stdout)[-4000:], "import": imp.stdout[-2000:] + imp.stderr[-2000:]}
        (d / "diagnose.json").write_text(json.dumps(found, indent=1))
        results[d.name] = found
        print(f"== diagnose {d.name}: {_headline(found)}", flush=True)
    (src / "diagnose_summary.json").write_text(json.dumps(
        {"command": " ".join(["python", "benchmarks/gpu/h100_issue20.py", *sys.argv[1:]]),
         "phases": {k: _headline(v) for k, v in results.items()}}, indent=1))
    return 0


def _headline(found: Any) -> Any:
    items = found.get("findings", found) if isinstance(found, dict) else found
    if not isinstance(items, list):
        return found.get("error", "?") if isinstance(found, dict) else "?"
    return [{k: f.get(k) for k in ("category", "confidence", "title")} for f in items[:5] if isinstance(f, dict)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="every phase (GPU machine, or --fake here)")
    r.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")))
    r.add_argument("--fake", action="store_true", help="fake NVML + world model: a dry run on a CPU machine")
    r.add_argument("--phases", default=",".join(PHASES))
    r.add_argument("--scale", type=float, default=1.0, help="phase durations x this (0.3: smoke run)")
    r.add_argument("--phase-timeout", type=float, default=240.0)
    p = sub.add_parser("phase", help="one phase (run starts these)")
    p.add_argument("name", choices=PHASES)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--fake", action="store_true")
    p.add_argument("--scale", type=float, default=1.0)
    d = sub.add_parser("diagnose", help="import each phase's OTLP dump and diagnose it (CPU machine)")
    d.add_argument("--from", dest="source", type=Path, required=True)
    args = ap.parse_args()
    if args.cmd == "run":
        return cmd_run(args)
    if args.cmd == "phase":
        res = run_phase(args.name, args.out, args.fake, args.scale)
        return 1 if "error" in res else 0
    return cmd_diagnose(args)


if __name__ == "__main__":
    sys.exit(main())
