"""What other users and other programs on the same machine can get from a collector: its files,
its token, the sidecar that points readers at it, and how much a reader downloads."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import pytest
from infersight.analysis import connect
from infersight.collectors import Collector
from infersight.collectors._collector import sidecar_path
from infersight.collectors._errors import StorageError
from infersight.collectors.reader import open_readonly

from benchmarks.ingest.payload import make_request

from ._procs import CollectorProcess

pytestmark = pytest.mark.integration
PB = {"content-type": "application/x-protobuf"}


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_db_wal_and_sidecar_are_private(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    old = os.umask(0o022)  # a usual user umask: files would be 0644
    try:
        with CollectorProcess(db, grpc=False, extra=["--workers", "0"]) as col:
            r = httpx.post(col.url + "/v1/traces", content=make_request(50, seed=1).SerializeToString(), headers=PB)
            assert r.status_code == 200
            wal = Path(str(db) + ".wal")
            assert wal.exists(), "the acknowledged batch must be in the WAL"
            for p in (db, wal, sidecar_path(db)):
                assert _mode(p) & 0o077 == 0, f"{p.name} is {oct(_mode(p))}: readable by other users"
    finally:
        os.umask(old)


def _collect(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infersight.cli", "collect", "--db", str(tmp_path / "x.duckdb"),
                           "--http-port", "0", "--grpc-port", "-1", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_empty_token_is_refused_not_ignored(tmp_path: Path) -> None:
    for args, env in ((["--workers", "0"], {"INFERSIGHT_TOKEN": ""}), (["--token", " "], {})):
        res = _collect(tmp_path, *args, env=env)
        assert res.returncode == 2, (args, env, res.stderr)  # a bad argument
        assert "empty" in res.stderr and "Traceback" not in res.stderr
        errors = [line for line in res.stderr.splitlines() if "error" in line.lower()]
        assert len(errors) == 1 and errors[0].startswith("infersight collect: error:"), res.stderr
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    res = _collect(tmp_path, "--token-file", str(empty))
    assert res.returncode == 2 and "empty" in res.stderr
    assert not (tmp_path / "x.duckdb").exists(), "nothing is written when the start is refused"


def test_token_file_keeps_the_token_out_of_the_process_list(tmp_path: Path) -> None:
    secret = "tok-" + os.urandom(8).hex()
    tf = tmp_path / "token"
    tf.write_text(secret + "\n")
    tf.chmod(0o600)
    env_before = os.environ.pop("INFERSIGHT_TOKEN", None)
    try:
        with CollectorProcess(tmp_path / "t.duckdb", grpc=False, extra=["--token-file", str(tf)]) as col:
            assert col.proc is not None
            cmdline = Path(f"/proc/{col.proc.pid}/cmdline").read_bytes()
            assert secret.encode() not in cmdline
            body = make_request(3, seed=2).SerializeToString()
            assert httpx.post(col.url + "/v1/traces", content=body, headers=PB).status_code == 401
            auth = {**PB, "authorization": f"Bearer {secret}"}
            assert httpx.post(col.url + "/v1/traces", content=body, headers=auth).status_code == 200
    finally:
        if env_before is not None:
            os.environ["INFERSIGHT_TOKEN"] = env_before


def _rewrite_sidecar(db: Path, url: str) -> None:
    side = sidecar_path(db)
    doc = json.loads(side.read_text())
    doc["url"] = url
    side.write_text(json.dumps(doc))


def test_sidecar_is_followed_only_to_loopback_and_only_when_ours(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    with Collector(db, http_port=0, grpc_port=None, retention_interval_s=3600) as col:
        body = make_request(4, seed=3).SerializeToString()
        assert httpx.post(col.url + "/v1/traces", content=body, headers=PB).status_code == 200
        con = open_readonly(db)  # held by the collector: read live through the sidecar
        assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (4,)
        con.close()
        _rewrite_sidecar(db, "http://203.0.113.9:4318")  # TEST-NET: a token sent there would leak
        with pytest.raises(StorageError, match="non-loopback"):
            open_readonly(db, token="secret")
        _rewrite_sidecar(db, col.url)
        if os.getuid() == 0:  # root can hand the file to another user
            os.chown(sidecar_path(db), 65534, 65534)
            with pytest.raises(StorageError, match="another user"):
                open_readonly(db, token="secret")


def test_diagnose_token_option_reaches_a_protected_collector(tmp_path: Path) -> None:
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, token="s3cret") as col:
        body = make_request(20, seed=4).SerializeToString()
        auth = {**PB, "authorization": "Bearer s3cret"}
        assert httpx.post(col.url + "/v1/traces", content=body, headers=auth).status_code == 200
        env = {k: v for k, v in os.environ.items() if k != "INFERSIGHT_TOKEN"}
        argv = [sys.executable, "-m", "infersight.cli", "diagnose", "--db", col.url, "--json"]
        without = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
        assert without.returncode == 2 and "401" in without.stderr, without.stderr
        with_token = subprocess.run([*argv, "--token", "s3cret"], capture_output=True, text=True, timeout=300, env=env)
        assert "401" not in with_token.stderr, with_token.stderr
        assert with_token.returncode in (0, 1), with_token.stderr  # 1 = no requests among these spans


def test_since_is_pushed_down_to_a_live_collector(tmp_path: Path) -> None:
    """``diagnose --since 5m`` on a running collector downloads recent rows, not whole tables."""
    hour = 3600 * 10**9
    newest = 1_764_000_000 * 10**9 + 10 * hour
    with Collector(tmp_path / "t.duckdb", http_port=0, grpc_port=None, retention_interval_s=3600) as col:
        for seed, start in ((1, newest - 5 * hour), (2, newest - 3 * hour), (3, newest - 60 * 10**9)):
            req = make_request(100, seed=seed, start_ns=start)
            assert httpx.post(col.url + "/v1/traces", content=req.SerializeToString(), headers=PB).status_code == 200
        with connect(col.url, since="5m") as tel:
            rows = tel.con.execute('SELECT count(*), epoch_ns(min("Timestamp")) FROM otel_traces').fetchone()
    assert rows is not None
    assert rows[0] == 100, f"downloaded {rows[0]} spans, only the last batch is within --since 5m (+30 min)"
    assert rows[1] >= newest - hour


def test_file_db_is_unchanged_by_the_pushdown(tmp_path: Path) -> None:
    """A DB file (no collector) is read directly: --since filters in the analysis as before."""
    db = tmp_path / "f.duckdb"
    with Collector(db, http_port=0, grpc_port=None, retention_interval_s=3600) as col:
        req = make_request(10, seed=5)
        assert httpx.post(col.url + "/v1/traces", content=req.SerializeToString(), headers=PB).status_code == 200
    with connect(db, since="5m") as tel:
        rows = tel.con.execute("SELECT count(*) FROM otel_traces").fetchone()
    assert rows == (10,)
    duckdb.connect(str(db), read_only=True).close()
