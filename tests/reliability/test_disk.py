"""Disk trouble under the collector: the DuckDB file on a small tmpfs that fills up, then turns
read-only; 503 + a clear log line while it lasts, nothing acknowledged is lost, recovery after."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from ._disk import MountError, post_request, run_small_disk
from ._procs import CollectorProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def small_fs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    size = getattr(request, "param", "4m")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True,
                         text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {res.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _remount(mnt: Path, opts: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{opts}", str(mnt)], check=True, capture_output=True)


def test_full_then_read_only_disk_is_503_and_recovers(small_fs: Path) -> None:
    db = small_fs / "t.duckdb"
    acked: set[str] = set()
    col = CollectorProcess(db, grpc=False, extra=["--workers", "0", "--log-level", "warning"])
    col.log_path = small_fs.parent / "collector.log"  # the log must not live on the full disk
    col.start()
    try:
        with httpx.Client(base_url=col.url, timeout=30) as client:
            codes: list[int] = []
            for seed in range(200):  # ~0.4 MB of WAL per request: 4 MB fills in a few dozen
                code, ids, resp = post_request(client, seed)
                codes.append(code)
                if code == 200:
                    acked |= ids
                else:
                    assert code == 503, resp.text
                    assert resp.headers.get("retry-after"), "503 without Retry-After"
                    if codes.count(503) >= 3:
                        break
            assert codes.count(503) >= 3, f"a 4 MB disk never filled: {codes}"
            assert 500 not in codes
            # refused before the WAL write fails (the guard keeps room for a checkpoint), or by it
            log = col.log()
            assert "disk nearly full" in log or "No space left on device" in log, log[-2000:]

            _remount(small_fs, "size=64m")  # space returns
            for seed in range(1000, 1005):
                code, ids, resp = post_request(client, seed)
                assert code == 200, f"no recovery after space returned: {code} {resp.text}"
                acked |= ids

        assert col.stop() == 0, col.log()[-2000:]
    finally:
        col.kill9()

    # A read-only filesystem (kernel refuses ro while the WAL is open, so it turns ro between runs):
    # the collector refuses to start with one clear line, and leaves the file as it was.
    _remount(small_fs, "ro")
    before = db.read_bytes()
    ro = CollectorProcess(db, grpc=False, extra=["--workers", "0"])
    ro.log_path = small_fs.parent / "collector-ro.log"
    with pytest.raises(AssertionError, match="exited 1"):
        ro.start(timeout_s=60)
    assert f"cannot write {db}: the filesystem is mounted read-only" in ro.log(), ro.log()
    assert "Traceback" not in ro.log()
    assert db.read_bytes() == before
    _remount(small_fs, "rw")
    con = duckdb.connect(str(db), read_only=True)  # no corruption: opens, and every ack is there
    try:
        stored = [r[0] for r in con.execute('SELECT "SpanId" FROM otel_traces').fetchall()]
    finally:
        con.close()
    assert not acked - set(stored), f"{len(acked - set(stored))} acknowledged spans lost"
    assert len(stored) == len(set(stored))


def test_a_small_disk_is_checkpointed_early_and_keeps_accepting(tmp_path: Path) -> None:
    """An 8 MiB disk and the default 64 MB checkpoint threshold: without an early checkpoint the
    WAL fills the disk after ~19 requests and every later request is refused until an operator
    frees space. With it, the WAL's space comes back and ingest goes on with nobody's help."""
    try:
        r = run_small_disk(tmp_path, size_mib=8, requests=60)
    except MountError as exc:
        pytest.skip(str(exc))
    assert "500" not in r.statuses and r.retry_after_missing == 0, r
    assert r.acked_requests >= 40, f"only {r.acked_requests} of 60 requests stored on an 8 MiB disk: {r}"
    assert r.early_checkpoints >= 1, r
    assert r.lost == 0 and r.duplicates == 0, r


@pytest.mark.parametrize("small_fs", ["8m"], indirect=True)
def test_a_connection_invalidated_by_a_full_disk_is_reopened(small_fs: Path) -> None:
    """A checkpoint that hits a full disk is FATAL in DuckDB: the connection is invalidated. The
    guard avoids it, but another process can fill the disk at any moment; the writer then
    reopens the file (WAL replay) and ingest resumes once there is space, without a restart."""
    from infersight.collectors import Collector

    db = small_fs / "t.duckdb"
    acked: set[str] = set()
    with Collector(db, http_port=0, grpc_port=None, retention_interval_s=3600) as col:
        assert col.writer is not None
        with httpx.Client(base_url=col.url, timeout=30) as client:
            for seed in range(3):
                code, ids, resp = post_request(client, seed)
                assert code == 200, resp.text
                acked |= ids
            filler = small_fs / "filler"
            with open(filler, "wb") as fh:  # another program fills the disk
                try:
                    while True:
                        fh.write(b"\0" * (1 << 16))
                        fh.flush()
                except OSError:
                    pass
            with pytest.raises(Exception, match="(?i)fatal|invalidated|space"):
                col.writer.call(lambda con: con.execute("CHECKPOINT")).result(timeout=60)
            filler.unlink()  # space returns
            codes = []
            for seed in range(100, 110):
                code, ids, resp = post_request(client, seed)
                codes.append(code)
                if code == 200:
                    acked |= ids
                    if codes.count(200) >= 3:
                        break
                else:
                    assert code == 503 and resp.headers.get("retry-after"), (code, resp.text)
            assert codes.count(200) >= 3, f"ingest did not resume after the fatal error: {codes}"
        assert col.writer.reopened >= 1
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = {r[0] for r in con.execute('SELECT "SpanId" FROM otel_traces').fetchall()}
    finally:
        con.close()
    assert not acked - stored, f"{len(acked - stored)} acknowledged spans lost"
