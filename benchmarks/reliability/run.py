"""Full-scale reliability runs; each writes benchmarks/results/reliability_<name>.json.

    .venv/bin/python -m benchmarks.reliability.run crash --cycles 20 [--installed | --cli PATH]
    .venv/bin/python -m benchmarks.reliability.run blackhole --minutes 10
    .venv/bin/python -m benchmarks.reliability.run overload
    .venv/bin/python -m benchmarks.reliability.run fuzz --inputs 1000000
    .venv/bin/python -m benchmarks.reliability.run uploads --connections 1,8,32,64
    .venv/bin/python -m benchmarks.reliability.run disk --size-mib 32 [--installed | --cli PATH]

``--installed`` builds the wheel of this checkout and installs it non-editable into a fresh
venv first (the product as a user installs it); ``--cli`` runs a given ``infersight`` executable.

The CI-sized versions of the same runs are tests/reliability/ (same harness code).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def _write(name: str, result: dict[str, Any], argv: list[str]) -> Path:
    path = RESULTS / f"reliability_{name}.json"
    doc = {"command": ".venv/bin/python -m benchmarks.reliability.run " + " ".join(argv),
           "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_at_end": os.getloadavg()},
           "result": result}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def _cli(args: argparse.Namespace, tmp: Path) -> tuple[list[str] | None, dict[str, Any]]:
    """The infersight command to run (None = this checkout) and what it is, for the result."""
    if getattr(args, "cli", None):
        return [args.cli], {"cli": args.cli}
    if getattr(args, "installed", False):
        from tests._wheel import build_wheel, install_wheel

        wheel = build_wheel(tmp / "dist")
        venv = install_wheel(wheel, tmp / "venv")
        return [str(venv.cli)], {"cli": "wheel installed non-editable in a fresh venv", "wheel": wheel.name}
    return None, {"cli": "checkout (python -m infersight.cli)"}


def _crash(args: argparse.Namespace) -> dict[str, Any]:
    from tests.reliability._crash import run_crash_cycles

    with tempfile.TemporaryDirectory() as tmp:
        cli, what = _cli(args, Path(tmp))
        return {**what, **run_crash_cycles(Path(tmp), args.cycles, seed=args.seed, cli=cli).as_dict()}


def _uploads(args: argparse.Namespace) -> dict[str, Any]:
    """One fresh process per connection count (RSS of a process that ran nothing else)."""
    import subprocess

    runs = []
    for n in (int(x) for x in args.connections.split(",")):
        code = ("import json, sys, tempfile, pathlib; sys.path.insert(0, sys.argv[1])\n"
                "from tests.reliability._uploads import run_uploads\n"
                "r = run_uploads(pathlib.Path(tempfile.mkdtemp()), int(sys.argv[2]), body_bytes=int(sys.argv[3]),"
                " budget_bytes=int(sys.argv[4]))\n"
                "print(json.dumps(r.as_dict()))")
        out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(n), str(args.body_mib << 20),
                              str(args.budget_mib << 20)], capture_output=True, text=True, check=True, timeout=1800)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["rss_growth_mib"] = round(r["rss_growth"] / 2**20, 1)
        r["rss_all_read_mib"] = round(r["rss_all_read"] / 2**20, 1)
        r["held_when_all_read_mib"] = round(r["held_when_all_read"] / 2**20, 1)
        r["peak_accounted_mib"] = round(r["peak_accounted"] / 2**20, 1)
        r["buffered_whole_would_hold_mib"] = n * args.body_mib
        runs.append(r)
    return {"body_mib": args.body_mib, "budget_mib": args.budget_mib, "runs": runs}


def _disk(args: argparse.Namespace) -> dict[str, Any]:
    from tests.reliability._disk import run_small_disk

    with tempfile.TemporaryDirectory() as tmp:
        cli, what = _cli(args, Path(tmp))
        return {**what, **run_small_disk(Path(tmp), size_mib=args.size_mib, requests=args.requests,
                                         cli=cli, grow_to_mib=args.grow_to_mib).as_dict()}


def _overload(args: argparse.Namespace) -> dict[str, Any]:
    from tests.reliability._overload import run_overload

    with tempfile.TemporaryDirectory() as tmp:
        return run_overload(Path(tmp), sustain_s=args.sustain_s, burst_s=args.burst_s,
                            concurrency=args.concurrency, spans_per_request=args.spans).as_dict()


def _fuzz(args: argparse.Namespace) -> dict[str, Any]:
    from tests.reliability._fuzz import run_fuzz

    chunks = []
    for k in range(args.chunks):  # one seed per chunk: each chunk is reproducible on its own
        chunks.append(run_fuzz(args.inputs // args.chunks, seed=args.seed + k).as_dict())
    total = {key: sum(c[key] for c in chunks) for key in
             ("inputs", "decode_errors", "accepted_requests", "rejected_items", "crashes")}
    return {**total, "seeds": [c["seed"] for c in chunks], "max_rss_mib": max(c["max_rss_mib"] for c in chunks),
            "crash_samples": [s for c in chunks for s in c["crash_samples"]][:20]}


def _blackhole(args: argparse.Namespace) -> dict[str, Any]:
    from tests.reliability._blackhole import run_blackhole

    with tempfile.TemporaryDirectory() as tmp:
        return run_blackhole(Path(tmp), seconds=args.minutes * 60, rate=args.rate).as_dict()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crash", help="kill -9 the collector N times while SDK exporters send")
    c.add_argument("--cycles", type=int, default=20)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--installed", action="store_true", help="run the wheel, installed in a fresh venv")
    c.add_argument("--cli", help="an infersight executable to run (e.g. another venv's)")
    u = sub.add_parser("uploads", help="N held chunked gzip uploads: RSS and in-flight accounting")
    u.add_argument("--connections", default="1,8,32,64")
    u.add_argument("--body-mib", type=int, default=64, help="each upload inflates to this (the --max-body default)")
    u.add_argument("--budget-mib", type=int, default=128, help="in-flight budget (the collector's default)")
    d = sub.add_parser("disk", help="the collector on a small tmpfs: early checkpoints, 503s, recovery")
    d.add_argument("--size-mib", type=int, default=32)
    d.add_argument("--requests", type=int, default=400)
    d.add_argument("--grow-to-mib", type=int, help="then remount the tmpfs this big and send 20 more requests")
    d.add_argument("--installed", action="store_true")
    d.add_argument("--cli")
    o = sub.add_parser("overload", help="burst far above the sustainable ingest rate")
    o.add_argument("--sustain-s", type=float, default=10.0)
    o.add_argument("--burst-s", type=float, default=30.0)
    o.add_argument("--concurrency", type=int, default=96)
    o.add_argument("--spans", type=int, default=8192)
    f = sub.add_parser("fuzz", help="mutation-fuzz the OTLP protobuf/JSON decoders")
    f.add_argument("--inputs", type=int, default=1_000_000)
    f.add_argument("--chunks", type=int, default=10)
    f.add_argument("--seed", type=int, default=1000)
    b = sub.add_parser("blackhole", help="demo server under load, collector black-holed, healthy twin")
    b.add_argument("--minutes", type=float, default=10.0)
    b.add_argument("--rate", type=float, default=3.0)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    result = {"crash": _crash, "overload": _overload, "fuzz": _fuzz, "blackhole": _blackhole, "uploads": _uploads,
              "disk": _disk}[args.cmd](args)
    result["wall_s"] = round(time.monotonic() - t0, 1)
    name = args.cmd + ("_installed" if getattr(args, "installed", False) else "")
    path = _write(name, result, argv)
    print(json.dumps(result, indent=2))
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
