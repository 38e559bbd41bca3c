"""The demo CLI: the catalog, clear errors, and Ctrl-C stopping every child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from infersight.demo import FAULTS
from infersight.demo.cli import demo_app
from typer.testing import CliRunner


def test_scenarios_lists_the_catalog() -> None:
    result = CliRunner().invoke(demo_app, ["scenarios"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for name, fault in FAULTS.items():
        assert name in result.output and fault.category in result.output


def test_unknown_scenario_and_fault_are_clear_errors(tmp_path: Path) -> None:
    r = CliRunner().invoke(demo_app, ["scenario", "nope", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "unknown scenario 'nope'" in r.output
    r = CliRunner().invoke(demo_app, ["serve", "--fault", "nope"])
    assert r.exit_code == 2 and "unknown fault 'nope'" in r.output
    r = CliRunner().invoke(demo_app, ["load", "--rate", "0"])
    assert r.exit_code == 2 and "rate" in r.output


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.integration
def test_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    out = tmp_path / "run"
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as err_file:
        # SIGINT at its default in the runner whatever pytest inherited (a background job started
        # by a non-interactive shell ignores SIGINT, and a Python started so installs no
        # KeyboardInterrupt handler): the test is about the runner's unwinding, not the caller's
        runner = subprocess.Popen([sys.executable, "-m", "infersight.cli", "demo", "scenario", "clean",
                                   "--duration", "120", "--out", str(out)],
                                  stdout=subprocess.DEVNULL, stderr=err_file,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 180
        pids: dict[str, int] = {}
        while "server" not in pids:
            assert runner.poll() is None, err.read_text(errors="replace")
            assert time.monotonic() < deadline, "the stack did not start"
            time.sleep(0.5)
            if (out / "pids.json").exists():
                pids = json.loads((out / "pids.json").read_text())
        time.sleep(3)
        assert all(_alive(p) for p in pids.values())
        runner.send_signal(signal.SIGINT)
        runner.wait(90)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert {"collector", "downstream", "server"} <= set(pids)
    left = {name: pid for name, pid in pids.items() if _alive(pid)}
    assert not left, f"left behind: {left}"


@pytest.mark.integration
def test_incident_diagnosis_step_runs_the_real_command() -> None:
    from infersight.demo._incident import diagnose

    run = Path(__file__).parents[1] / "data" / "runs" / "full_sync"
    out = diagnose(run)
    assert out is not None and out.strip()  # the analysis part is installed in this build


def _children(pid: int) -> set[int]:
    """Direct child processes of ``pid`` (Linux /proc)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


@pytest.mark.integration
def test_sigterm_to_demo_incident_stops_every_process(tmp_path: Path) -> None:
    # `kill PID` (docker stop, systemd) used to end the runner on the spot and leave the
    # collector (and its decode workers), redis, the downstream and the demo server listening
    out = tmp_path / "incident"
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as err_file:
        runner = subprocess.Popen([sys.executable, "-m", "infersight.cli", "demo", "incident", "--duration", "120",
                                   "--out", str(out)], stdout=subprocess.DEVNULL, stderr=err_file,
                                  start_new_session=True)
    pids: dict[str, int] = {}
    everything: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 240
        pidfile = out / "full_sync" / "pids.json"
        while "server" not in pids:
            assert runner.poll() is None, err.read_text(errors="replace")
            assert time.monotonic() < deadline, "the stack did not start"
            time.sleep(0.5)
            try:
                pids = json.loads(pidfile.read_text())
            except (OSError, ValueError):  # not there yet, or half written
                pass
        time.sleep(3)
        everything = dict(pids)
        for i, child in enumerate(sorted(_children(pids["collector"]))):  # decode workers (multiprocessing)
            everything[f"collector child {i}"] = child
        assert all(_alive(p) for p in everything.values())
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(120) == 143
        # the collector's multiprocessing helpers exit once it has (they read EOF on its pipe)
        grace = time.monotonic() + 10
        while any(_alive(p) for p in everything.values()) and time.monotonic() < grace:
            time.sleep(0.2)
        left = {name: pid for name, pid in everything.items() if _alive(pid)}
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)  # the session this test started
            runner.wait()
        for pid in everything.values():  # the stack's own sessions: stop what a failed run left
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert {"collector", "downstream", "server"} <= set(pids)
    assert not left, f"left behind: {left}"
    assert "terminated: every child process was stopped" in err.read_text(errors="replace")


def test_incident_names_each_run_the_same_everywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the fix run was "clean" in its progress bar and load summary, "incremental_sync" in the
    # before/after table: run_incident passes each run the label the table's columns carry
    from infersight.demo import _incident

    seen: list[str] = []

    class Stop(Exception):
        pass

    def record(name: str, out: Path, **kw: object) -> object:
        seen.append(str(kw["label"]))
        if len(seen) == 2:
            raise Stop  # the runs themselves are what the other demo tests exercise
        return type("Run", (), {"out": tmp_path})()

    monkeypatch.setattr(_incident, "run_with_progress", record)
    monkeypatch.setattr(_incident, "diagnose", lambda db: None)
    with pytest.raises(Stop):
        _incident.run_incident(tmp_path)
    assert seen == ["full_sync (incident)", "incremental_sync (fix)"]
    assert (_incident.INCIDENT_LABEL, _incident.FIX_LABEL) == tuple(seen)


def test_scenario_catalog_keeps_names_whole_at_80_columns() -> None:
    res = subprocess.run([sys.executable, "-m", "infersight.cli", "demo", "scenarios"], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "COLUMNS": "80"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    for name, fault in FAULTS.items():
        assert any(name in ln for ln in lines), name
        assert any(fault.category in ln for ln in lines), fault.category
