"""One error root, one bad-argument class per part, unique names, one CLI error format and exit map."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from infersight import BadArgumentError, InfersightError

PARTS = ("instrument", "collectors", "analysis", "demo", "ui")
# modules that need a GPU stack or a vLLM install to import
SKIP = ("infersight.instrument.vllm.plugin",)


def _modules() -> list[str]:
    names = ["infersight"]
    for part in PARTS:
        pkg = importlib.import_module(f"infersight.{part}")
        names.append(pkg.__name__)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, f"{pkg.__name__}.")
                  if ".sql" not in m.name and ".templates" not in m.name and not m.name.startswith(SKIP)]
    return names


def _defined_classes() -> list[type]:
    found: list[type] = []
    for name in _modules():
        try:
            mod = importlib.import_module(name)
        except ImportError:  # an optional dependency (torch, chdb...) that this machine lacks
            continue
        found += [c for _, c in inspect.getmembers(mod, inspect.isclass) if c.__module__ == name]
    return found


def test_every_part_error_derives_from_the_root() -> None:
    from infersight.analysis import AnalysisError, UsageError
    from infersight.collectors import CollectorConfigError, CollectorError
    from infersight.demo import DemoConfigError, DemoError
    from infersight.instrument import ConfigurationError, InstrumentError
    from infersight.instrument.gpu import GpuConfigError, GpuError

    for base in (InstrumentError, GpuError, CollectorError, AnalysisError, DemoError):
        assert issubclass(base, InfersightError), base
    assert issubclass(GpuError, InstrumentError)
    bad_arguments = (ConfigurationError, GpuConfigError, CollectorConfigError, UsageError, DemoConfigError)
    for cls in bad_arguments:
        assert issubclass(cls, BadArgumentError) and issubclass(cls, ValueError), cls
        assert cls.exit_code == 2
    assert issubclass(GpuConfigError, ConfigurationError)


def test_every_exception_infersight_defines_is_in_the_tree_and_named_once() -> None:
    errors = [c for c in _defined_classes() if issubclass(c, BaseException)]
    assert len(errors) >= 20
    outside = [f"{c.__module__}.{c.__qualname__}" for c in errors if not issubclass(c, InfersightError)
               and not c.__name__.startswith("_") and c.__name__ not in ("LibraryGone", "Terminated")]
    assert outside == []
    names = [c.__name__ for c in errors]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_public_classes_of_the_parts_have_unique_names() -> None:
    seen: dict[str, str] = {}
    clashes = []
    for part in PARTS:
        mod = importlib.import_module(f"infersight.{part}")
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.isclass(obj):
                if name in seen:
                    clashes.append(f"{name}: {seen[name]} and {part}")
                seen[name] = part
    assert clashes == []


def test_renamed_classes_still_import_with_a_deprecation_warning() -> None:
    import infersight.analysis as analysis
    import infersight.instrument as instrument

    with pytest.warns(DeprecationWarning, match="TelemetryProviders"):
        assert instrument.Telemetry is instrument.TelemetryProviders  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning, match="NewerSchemaError"):
        assert analysis.SchemaVersionError is analysis.NewerSchemaError  # type: ignore[attr-defined]


def test_a_gpu_option_typo_raises_like_any_bad_argument() -> None:
    from fastapi import FastAPI
    from infersight.instrument import ConfigurationError, instrument_app
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    kwargs = dict(tracer_provider=TracerProvider(), meter_provider=MeterProvider(), registry=CollectorRegistry(),
                  gc=False, loop_lag=False, instrument_clients=False)
    with pytest.raises(ConfigurationError, match="mode"):
        instrument_app(FastAPI(), mode="fast", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="typo"):
        instrument_app(FastAPI(), gpu=True, gpu_options={"typo": 1}, **kwargs)


# one bad argument per subcommand: same format, exit code 2
BAD_ARGUMENTS = [
    (["collect", "--db", "{tmp}/x.duckdb", "--max-body", "lots", "--http-port", "0", "--grpc-port", "-1"], "collect"),
    (["import", "--db", "{tmp}/x.duckdb", "--format", "nope", "{tmp}/missing.json"], "import"),
    (["export", "--db", "{tmp}/missing.duckdb", "--parquet", "{tmp}/out"], "export"),
    (["diagnose", "--db", "{tmp}/missing.duckdb"], "diagnose"),
    (["diagnose", "--db", "{tmp}", "--since", "soon"], "diagnose"),
    (["demo", "load", "--rate", "0", "--no-spans"], "demo load"),
    (["demo", "load", "--duration", "forever", "--no-spans"], "demo load"),
    (["dashboards", "preview", "--range", "a while", "--out", "{tmp}/png"], "dashboards"),
    (["probe", "http://127.0.0.1:9", "--timeout", "0", "--no-spans"], "probe"),
]


@pytest.mark.parametrize("args,command", BAD_ARGUMENTS, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in
                                                               enumerate(BAD_ARGUMENTS)])
def test_every_subcommand_reports_a_bad_argument_the_same_way(tmp_path: Path, args: list[str], command: str) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = subprocess.run([sys.executable, "-m", "infersight.cli", *argv], capture_output=True, text=True,
                         timeout=120)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"infersight {command}: error: "), res.stderr


def test_the_failure_format_escapes_control_characters() -> None:
    from infersight._fail import error_line, exit_code

    assert error_line("diagnose", InfersightError("bad \x1b[2J name\nsecond line")) == \
        "infersight diagnose: error: bad \\x1b[2J name second line"
    assert exit_code(BadArgumentError("x")) == 2 and exit_code(InfersightError("x")) == 1
    assert exit_code(FileNotFoundError("x")) == 2 and exit_code(RuntimeError("x")) == 1
