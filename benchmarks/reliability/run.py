"""Full-scale reliability runs; each writes benchmarks/results/reliability_<name>.json.

    .venv/bin/python -m benchmarks.reliability.run crash --cycles 20
    .venv/bin/python -m benchmarks.reliability.run blackhole --minutes 10
    .venv/bin/python -m benchmarks.reliability.run overload
    .venv/bin/python -m benchmarks.reliability.run fuzz --inputs 1000000

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


def _crash(args: argparse.Namespace) -> dict[str, Any]:
    from tests.reliability._crash import run_crash_cycles

    with tempfile.TemporaryDirectory() as tmp:
        return run_crash_cycles(Path(tmp), args.cycles, seed=args.seed).as_dict()


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
    result = {"crash": _crash, "overload": _overload, "fuzz": _fuzz, "blackhole": _blackhole}[args.cmd](args)
    result["wall_s"] = round(time.monotonic() - t0, 1)
    path = _write(args.cmd, result, argv)
    print(json.dumps(result, indent=2))
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
