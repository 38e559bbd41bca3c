"""Process and host CPU gauges (instrument/runtime/_cpu.py) on a real /proc/stat-format file and os.times()."""

from __future__ import annotations

from pathlib import Path

from infersight.instrument.runtime._cpu import HostCpu, process_cpu


def _stat(path: Path, user: int, idle: int) -> None:
    path.write_text(f"cpu  {user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 {user} 0 0 {idle} 0 0 0 0 0 0\n")


def test_host_utilisation_is_busy_share_between_collections(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    _stat(stat, user=100, idle=900)
    host = HostCpu(stat)
    _stat(stat, user=175, idle=925)  # 75 busy of 100 ticks
    (obs,) = list(host())
    assert obs.value == 0.75
    assert list(host()) == []  # no ticks since: nothing to say


def test_host_without_proc_stat_reports_nothing(tmp_path: Path) -> None:
    host = HostCpu(tmp_path / "missing")
    assert list(host()) == []


def test_process_cpu_grows_with_work() -> None:
    before = {o.attributes["cpu.mode"]: o.value for o in process_cpu()}
    sum(i * i for i in range(2_000_000))
    after = {o.attributes["cpu.mode"]: o.value for o in process_cpu()}
    assert set(after) == {"user", "system"}
    assert after["user"] + after["system"] > before["user"] + before["system"]
