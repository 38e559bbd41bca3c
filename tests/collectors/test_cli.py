"""`infersight collect` bad input: one line, non-zero exit, nothing corrupted; SIGTERM stops cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from ..conftest import free_port

pytestmark = pytest.mark.integration
EXE = [sys.executable, "-m", "infersight.cli"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=60)


def _one_line_error(res: subprocess.CompletedProcess[str], needle: str, code: int = 1) -> None:
    assert res.returncode == code, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("infersight collect: error:")]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        res = _run("collect", "--db", str(tmp_path / "t.duckdb"), "--http-port", str(port), "--grpc-port", "-1")
    _one_line_error(res, "already in use")
    assert not (tmp_path / "t.duckdb").exists()


def test_grpc_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        res = _run("collect", "--db", str(tmp_path / "t.duckdb"), "--http-port", "0",
                   "--grpc-port", str(s.getsockname()[1]))
    _one_line_error(res, "gRPC")


def test_unwritable_db_path(tmp_path: Path) -> None:
    # (permission bits do not stop root, so use paths no user can write: a file as the parent
    # folder, and a folder as the DB file)
    blocker = tmp_path / "plainfile"
    blocker.write_text("x")
    res = _run("collect", "--db", str(blocker / "t.duckdb"), "--http-port", "0", "--grpc-port", "-1")
    _one_line_error(res, "t.duckdb")
    res = _run("collect", "--db", str(tmp_path), "--http-port", "0", "--grpc-port", "-1")
    _one_line_error(res, "is a directory")
    assert blocker.read_text() == "x"


def test_missing_directory(tmp_path: Path) -> None:
    res = _run("collect", "--db", str(tmp_path / "nope" / "t.duckdb"), "--http-port", "0", "--grpc-port", "-1")
    _one_line_error(res, "does not exist")


def test_newer_schema_version_refused_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "future.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE infersight_schema (version INTEGER, applied_at TIMESTAMP)")
    con.execute("INSERT INTO infersight_schema VALUES (99, now())")
    con.close()
    before = db.read_bytes()
    res = _run("collect", "--db", str(db), "--http-port", "0", "--grpc-port", "-1")
    _one_line_error(res, "schema version 99", code=2)  # a file this version cannot use: bad input
    assert db.read_bytes() == before


def test_bad_size_and_duration_flags(tmp_path: Path) -> None:
    _one_line_error(_run("collect", "--db", str(tmp_path / "t.duckdb"), "--max-body", "lots"), "--max-body", 2)
    _one_line_error(_run("collect", "--db", str(tmp_path / "t.duckdb"), "--retention", "forever"), "--retention", 2)
    assert not (tmp_path / "t.duckdb").exists()


def test_ready_line_and_sigterm_flushes(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    port = free_port()
    proc = subprocess.Popen([*EXE, "collect", "--db", str(db), "--http-port", str(port), "--grpc-port", "-1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line and "grpc off" in line
        from benchmarks.ingest.payload import make_request

        r = httpx.post(f"http://127.0.0.1:{port}/v1/traces", content=make_request(16).SerializeToString(),
                       headers={"content-type": "application/x-protobuf"})
        assert r.status_code == 200
        assert Path(str(db) + ".collector.json").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        if proc.stdout:
            proc.stdout.close()
    assert rc == 0
    assert not Path(str(db) + ".collector.json").exists()
    assert not Path(str(db) + ".wal").exists()  # checkpointed at shutdown
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM otel_traces").fetchone() == (16,)
    con.close()
    time.sleep(0)
