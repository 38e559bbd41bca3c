#!/usr/bin/env python3
"""Make the README pictures: previews/<uid>.png from a live run of the demo server.

    python dashboards/make_previews.py --seconds 120    # ~3 minutes; needs Debian's prometheus

Starts a collector (``infersight collect``), the demo model server with the full-sync fault
(the reference incident) sending its telemetry there, Prometheus on 127.0.0.1 scraping both
every second (exemplar storage on, the rules loaded), drives load with
``infersight demo load``, then runs ``infersight dashboards preview`` over the run. Every
process is started here and stopped by PID; ports are picked free.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-m", "infersight.cli"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {seconds} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "previews")
    ap.add_argument("--seconds", type=float, default=90.0, help="seconds of load")
    ap.add_argument("--rate", type=float, default=4.0, help="requests per second")
    ap.add_argument("--sync-period", type=float, default=20.0, help="seconds between full syncs")
    ap.add_argument("--rows", type=int, default=200_000, help="rows the full sync pulls")
    args = ap.parse_args()
    prom_bin = shutil.which("prometheus")
    if not prom_bin:
        raise SystemExit("needs Debian's prometheus: apt-get install prometheus")
    tmp = Path(tempfile.mkdtemp(prefix="infersight-previews-"))
    demo_port, prom_port, collector_port = _port(), _port(), _port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (tmp / "collector.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [*CLI, "collect", "--db", str(tmp / "telemetry.duckdb"), "--http-port", str(collector_port),
                 "--grpc-port", "-1", "--workers", "0", "--no-ui", "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT))
        _wait(f"http://127.0.0.1:{collector_port}/healthz")
        with (tmp / "demo.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [*CLI, "demo", "serve", "--port", str(demo_port), "--fault", "full_sync",
                 "--sync-period", str(args.sync_period), "--rows", str(args.rows),
                 "--data-dir", str(tmp), "--otlp-endpoint", f"http://127.0.0.1:{collector_port}"],
                stdout=log, stderr=subprocess.STDOUT))
        rules = []
        for path in sorted((HERE / "rules").glob("*.yml")):
            doc = yaml.safe_load(path.read_text())
            for g in doc["groups"]:
                g["interval"] = "5s"
            (tmp / path.name).write_text(yaml.safe_dump(doc))
            rules.append(str(tmp / path.name))
        (tmp / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "5s"}, "rule_files": rules,
            "scrape_configs": [{"job_name": "model-server",
                                "static_configs": [{"targets": [f"127.0.0.1:{demo_port}"]}]},
                               {"job_name": "collector",
                                "static_configs": [{"targets": [f"127.0.0.1:{collector_port}"]}]}]}))
        with (tmp / "prometheus.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [prom_bin, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--enable-feature=exemplar-storage"],
                stdout=log, stderr=subprocess.STDOUT))
        _wait(f"http://127.0.0.1:{demo_port}/readyz", 180)
        _wait(f"http://127.0.0.1:{prom_port}/-/ready")
        subprocess.run([*CLI, "demo", "load", "--url", f"http://127.0.0.1:{demo_port}", "--rate", str(args.rate),
                        "--duration", str(args.seconds), "--otlp-endpoint", f"http://127.0.0.1:{collector_port}"],
                       check=True, stdout=subprocess.DEVNULL)
        time.sleep(5)
        return subprocess.run([*CLI, "dashboards", "preview", "--prometheus", f"http://127.0.0.1:{prom_port}",
                               "--out", str(args.out), "--range", f"{int(args.seconds) + 20}s", "--step", "2s",
                               "--scrape-interval", "1s", "--var", "job=model-server",
                               "--board", "infersight-overview", "--board", "infersight-runtime",
                               "--board", "infersight-incident"]).returncode
    finally:
        for p in reversed(procs):
            _stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
