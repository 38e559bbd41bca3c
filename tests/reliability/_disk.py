"""The collector's DuckDB file on a small tmpfs: how much it stores, when it refuses, whether it
recovers without anyone freeing space. Used by tests/reliability/test_disk.py and
benchmarks/reliability/run.py disk (needs root to mount a tmpfs; callers skip otherwise).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx

from benchmarks.ingest.payload import make_request

from ._procs import CollectorProcess

PB = {"content-type": "application/x-protobuf"}


class MountError(RuntimeError):
    pass


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise MountError(f"cannot mount a small tmpfs here (needs root): {res.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def post_request(client: httpx.Client, seed: int, spans: int = 512) -> tuple[int, set[str], httpx.Response]:
    """One protobuf trace request with fresh span ids (so "found" is exact): (status, ids, response)."""
    req = make_request(spans, seed=seed, start_ns=1_764_000_000_000_000_000 + seed * 10**9)
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for sp in ss.spans:
                sp.span_id = uuid.uuid4().bytes[:8]
    ids = {sp.span_id.hex() for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans}
    resp = client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    return resp.status_code, ids, resp


@dataclass
class DiskReport:
    size_mib: int
    requests: int
    statuses: dict[str, int] = field(default_factory=dict)
    retry_after_missing: int = 0
    acked_requests: int = 0
    acked_spans: int = 0
    request_bytes: int = 0  # protobuf bytes of the acknowledged requests (their WAL is larger)
    first_refusal: int | None = None  # index of the first 503
    refusal_streaks: list[int] = field(default_factory=list)  # lengths of 503 runs that ended in a 200
    stuck_at_end: int = 0  # 503s in a row at the end (never recovered within the run)
    early_checkpoints: int = 0
    disk_full_refusals_logged: int = 0
    enospc_logged: int = 0
    db_mib_at_end: float = 0.0
    files_mib_at_end: dict[str, float] = field(default_factory=dict)  # everything on the small disk
    reopened_logged: int = 0
    grown_to_mib: int | None = None  # the disk was then made bigger (space returns) ...
    after_growing: dict[str, int] = field(default_factory=dict)  # ... and these statuses followed
    found: int = 0
    lost: int = 0
    duplicates: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_small_disk(workdir: Path, *, size_mib: int, requests: int, cli: Sequence[str] | None = None,
                   stop_when_stuck: int = 40, grow_to_mib: int | None = None) -> DiskReport:
    """``requests`` 512-span requests (stopping after ``stop_when_stuck`` refusals in a row); then,
    with ``grow_to_mib``, the tmpfs is remounted bigger and 20 more requests are sent."""
    report = DiskReport(size_mib, requests)
    t0 = time.monotonic()
    with tmpfs(workdir / "mnt", f"{size_mib}m") as mnt:
        db = mnt / "t.duckdb"
        col = CollectorProcess(db, grpc=False, extra=["--workers", "0"], cli=cli)
        col.log_path = workdir / "collector.log"  # the log must not live on the full disk
        acked: set[str] = set()
        codes: list[int] = []
        col.start()
        try:
            with httpx.Client(base_url=col.url, timeout=60) as client:
                for seed in range(requests):
                    code, ids, resp = post_request(client, seed)
                    codes.append(code)
                    if code == 200:
                        acked |= ids
                        report.request_bytes += len(resp.request.content)
                    elif code == 503 and not resp.headers.get("retry-after"):
                        report.retry_after_missing += 1
                    if len(codes) >= stop_when_stuck and all(c != 200 for c in codes[-stop_when_stuck:]):
                        break  # refused this many in a row: it does not come back by itself
                if grow_to_mib is not None:
                    subprocess.run(["mount", "-o", f"remount,size={grow_to_mib}m", str(mnt)], check=True)
                    report.grown_to_mib = grow_to_mib
                    after: list[int] = []
                    for seed in range(10_000, 10_020):
                        code, ids, _ = post_request(client, seed)
                        after.append(code)
                        if code == 200:
                            acked |= ids
                    report.after_growing = {str(k): v for k, v in sorted(Counter(after).items())}
            assert col.stop() == 0, col.log()[-2000:]
        finally:
            col.kill9()
        report.db_mib_at_end = round(db.stat().st_size / 2**20, 2)
        report.files_mib_at_end = {str(p.relative_to(mnt)): round(p.stat().st_blocks * 512 / 2**20, 2)
                                   for p in sorted(mnt.rglob("*")) if p.is_file()}
        con = duckdb.connect(str(db), read_only=True)
        try:
            stored = [r[0] for r in con.execute('SELECT "SpanId" FROM otel_traces').fetchall()]
        finally:
            con.close()
    log = col.log()
    report.statuses = {str(k): v for k, v in sorted(Counter(codes).items())}
    report.acked_requests = codes.count(200)
    report.acked_spans = len(acked)
    report.first_refusal = next((i for i, c in enumerate(codes) if c != 200), None)
    streak = 0
    for c in codes:
        if c == 200:
            if streak:
                report.refusal_streaks.append(streak)
            streak = 0
        else:
            streak += 1
    report.stuck_at_end = streak
    report.early_checkpoints = log.count("checkpointed a")
    report.disk_full_refusals_logged = log.count("refusing writes with 503")
    report.enospc_logged = log.count("No space left on device")
    report.reopened_logged = log.count("reopened it")
    report.found = len(acked & set(stored))
    report.lost = len(acked - set(stored))
    report.duplicates = len(stored) - len(set(stored))
    report.seconds = round(time.monotonic() - t0, 1)
    return report
