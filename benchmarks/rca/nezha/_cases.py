"""The 2023-01-29 Train-Ticket cases of the Nezha dataset: labels, minute files and windows.

Layout (``--data`` points at a folder holding ``rca_data/2023-01-29`` and ``construct_data/2023-01-29``):
``rca_data/<day>/trace/HH_MM_trace.csv`` holds the spans that started in the minute *ending* at about
HH:MM:08 UTC (e.g. ``08_43`` covers 08:42:09-08:43:08); ``log/HH_MM_log.csv`` the logs of that minute;
``metric/<pod>_metric.csv`` one row per pod and minute for the whole day. A fault labelled HH:MM:SS in
``<day>-fault_list.json`` owns the three minute files HH_MM, HH_MM+1 and HH_MM+2: about one minute
before the injection and two minutes after it (each fault lasts 3 minutes, FSE'23 paper section 5.1).

Times: ``inject_time`` is read as UTC, the clock of the span/log timestamps (``inject_timestamp`` in the
list is inconsistent: 8 h off for the afternoon faults, duplicated for 09:12:56, so it is not used).
Fault-free data: ``construct_data/<day>`` (one trace/log file, 08:48-08:51), the minute Nezha
itself uses as its fault-free phase.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

DAY = "2023-01-29"  # the 2023-01-30 cases are held out for evaluation: never read them
FAULT_S = 180  # every fault lasts 3 minutes (paper, section 5.1)
NS = 1_000_000_000


def service_of(pod: str) -> str:
    """Kubernetes pod name -> service name: drop the ReplicaSet hash and the pod suffix."""
    parts = pod.split("-")
    if len(parts) > 2 and parts[0] == "ts":
        return "-".join(parts[:-2])
    return pod


@dataclass(frozen=True)
class Case:
    """One labelled fault (or the fault-free minute, ``fault_type == "none"``)."""

    case_id: str
    inject_ns: int  # 0 for the fault-free minute
    pod: str
    fault_type: str
    trace_files: tuple[Path, ...]
    log_files: tuple[Path, ...]
    metric_dir: Path
    previous_fault_end_ns: int = 0
    windows: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False)

    @property
    def service(self) -> str:
        return service_of(self.pod) if self.pod else ""

    @property
    def fault_free(self) -> bool:
        return self.fault_type == "none"


def _utc_ns(text: str) -> int:
    t = dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * NS


def _minute_files(folder: Path, kind: str, first: dt.datetime, n: int) -> tuple[Path, ...]:
    out = []
    for k in range(n):
        m = first + dt.timedelta(minutes=k)
        path = folder / kind / f"{m:%H_%M}_{kind}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"missing Nezha file {path}")
        out.append(path)
    return tuple(out)


def load_cases(data: Path) -> list[Case]:
    """The day's 28 fault cases, in injection order."""
    folder = data / "rca_data" / DAY
    faults_file = folder / f"{DAY}-fault_list.json"
    if not faults_file.is_file():
        raise FileNotFoundError(f"{faults_file} not found: --data must hold rca_data/{DAY}")
    raw = json.loads(faults_file.read_text())
    faults = sorted((f for hour in raw.values() for f in hour), key=lambda f: f["inject_time"])
    cases: list[Case] = []
    prev_end = 0
    for f in faults:
        inject = _utc_ns(f["inject_time"])
        first = dt.datetime.fromtimestamp(inject // NS, dt.timezone.utc).replace(second=0)
        case_id = f"{first:%H%M}_{service_of(f['inject_pod']).removeprefix('ts-')}_{f['inject_type']}"
        cases.append(Case(case_id=case_id, inject_ns=inject, pod=f["inject_pod"], fault_type=f["inject_type"],
                          trace_files=_minute_files(folder, "trace", first, 3),
                          log_files=_minute_files(folder, "log", first, 3),
                          metric_dir=folder / "metric", previous_fault_end_ns=prev_end))
        prev_end = inject + FAULT_S * NS
    return cases


def fault_free_case(data: Path) -> Case:
    """The day's fault-free minute (Nezha's construction phase)."""
    folder = data / "construct_data" / DAY
    traces = tuple(sorted((folder / "trace").glob("*_trace.csv")))
    logs = tuple(sorted((folder / "log").glob("*_log.csv")))
    if not traces:
        raise FileNotFoundError(f"no trace file under {folder}: --data must hold construct_data/{DAY}")
    return Case(case_id="fault_free", inject_ns=0, pod="", fault_type="none", trace_files=traces,
                log_files=logs, metric_dir=folder / "metric")


def windows(case: Case, data_start_ns: int, data_end_ns: int) -> dict[str, tuple[int, int]]:
    """Analysis windows of a case, from the span time range actually stored.

    ``fault``: injection -> end of the data (about 2 min, all inside the 3-min fault);
    ``case``: all the case's data (about 1 min before the injection + the fault);
    ``nezha``: the minute Nezha analyses (the file HH_MM+2);
    ``pre``: before the injection and after the previous fault ended (fault-free, about 1 min).
    The fault-free minute has only ``all``.
    """
    if case.fault_free:
        return {"all": (data_start_ns, data_end_ns)}
    minute0 = case.inject_ns - case.inject_ns % (60 * NS)
    return {
        "fault": (case.inject_ns, min(data_end_ns, case.inject_ns + FAULT_S * NS)),
        "case": (data_start_ns, data_end_ns),
        "nezha": (minute0 + 68 * NS, minute0 + 128 * NS),
        "pre": (max(data_start_ns, case.previous_fault_end_ns), case.inject_ns),
    }


__all__ = ["DAY", "FAULT_S", "NS", "Case", "fault_free_case", "load_cases", "service_of", "windows"]
