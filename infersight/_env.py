"""Every environment variable infersight reads or honours, in one list, and the readers it uses.

Precedence everywhere: an explicit argument > the environment variable > the default, as the
OpenTelemetry SDK does. A variable that is set but cannot be used is one WARNING naming it and
the default is used (the SDK's behaviour for its own variables); nothing fails because of it.
The table in ``docs/configuration.md`` is :func:`markdown` (``python -m infersight._env`` prints
it); tests/foundation/test_env.py checks that every ``INFERSIGHT_*``/``OTEL_*`` name in the source
is listed here and that the table is current.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class EnvVar:
    """One variable (or family: ``{SIGNAL}`` = ``TRACES``/``METRICS``/``LOGS``, ``<FIELD>`` = a field name)."""

    name: str
    part: str          # instrument | gpu | vllm | collectors | analysis | demo
    meaning: str
    default: str = ""
    read_by: str = "infersight"  # or "OTel SDK": infersight leaves the variable to the SDK and says so

    def matches(self, name: str) -> bool:
        """True when ``name`` is this variable, a member of its family or the family's prefix."""
        if "{" not in self.name and "<" not in self.name:
            return name == self.name
        head = self.name.split("{")[0].split("<")[0]
        tail = self.name.split("}")[-1] if "{" in self.name else ""
        return name.startswith(head) and name.endswith(tail)


VARIABLES: tuple[EnvVar, ...] = (
    # --- OpenTelemetry SDK settings configure() honours ------------------------------------
    EnvVar("OTEL_SERVICE_NAME", "instrument", "service.name of the resource; an explicit `service_name=` "
           "wins over it (argument > environment > default), as OTEL_RESOURCE_ATTRIBUTES' service.name loses "
           "to OTEL_SERVICE_NAME", "unknown_service"),
    EnvVar("OTEL_RESOURCE_ATTRIBUTES", "instrument", "extra resource attributes (key=value,...)", read_by="OTel SDK"),
    EnvVar("OTEL_EXPORTER_OTLP_ENDPOINT", "instrument", "collector base URL when `endpoint=` is not given",
           "http://127.0.0.1:4318"),
    EnvVar("OTEL_EXPORTER_OTLP_{SIGNAL}_ENDPOINT", "instrument", "full URL of one signal's OTLP/HTTP endpoint",
           read_by="OTel SDK"),
    EnvVar("OTEL_EXPORTER_OTLP_HEADERS", "instrument", "headers of every OTLP request (key=value,...)",
           read_by="OTel SDK"),
    EnvVar("OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS", "instrument", "headers of one signal's OTLP requests",
           read_by="OTel SDK"),
    EnvVar("OTEL_EXPORTER_OTLP_TIMEOUT", "instrument", "OTLP request timeout (s) when `export_timeout_s=` "
           "is not given", "10", read_by="OTel SDK"),
    EnvVar("OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT", "instrument", "one signal's OTLP request timeout (s)",
           read_by="OTel SDK"),
    EnvVar("OTEL_EXPORTER_OTLP_CERTIFICATE", "instrument", "CA bundle for an https endpoint"),
    EnvVar("OTEL_EXPORTER_OTLP_{SIGNAL}_CERTIFICATE", "instrument", "one signal's CA bundle"),
    EnvVar("OTEL_EXPORTER_OTLP_CLIENT_KEY", "instrument", "mTLS client key"),
    EnvVar("OTEL_EXPORTER_OTLP_{SIGNAL}_CLIENT_KEY", "instrument", "one signal's mTLS client key"),
    EnvVar("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "instrument", "mTLS client certificate"),
    EnvVar("OTEL_EXPORTER_OTLP_{SIGNAL}_CLIENT_CERTIFICATE", "instrument", "one signal's mTLS client certificate"),
    EnvVar("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "vllm", "protocol of vLLM's own trace exporter "
           "(http/protobuf or grpc)", "http/protobuf"),
    EnvVar("OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER", "instrument", "a credential-provider "
           "session: infersight then keeps the SDK's requests transport", read_by="OTel SDK"),
    EnvVar("OTEL_PYTHON_EXPORTER_OTLP_HTTP_{SIGNAL}_CREDENTIAL_PROVIDER", "instrument",
           "one signal's credential provider (as above)", read_by="OTel SDK"),
    EnvVar("OTEL_TRACES_SAMPLER", "instrument", "sampler when `sampler=` is not given", "parentbased_always_on",
           read_by="OTel SDK"),
    EnvVar("OTEL_TRACES_SAMPLER_ARG", "instrument", "the sampler's argument (a ratio)", read_by="OTel SDK"),
    EnvVar("OTEL_BSP_SCHEDULE_DELAY", "instrument", "ms between span exports when `schedule_delay_ms=` "
           "is not given", "1000"),
    EnvVar("OTEL_BSP_MAX_QUEUE_SIZE", "instrument", "spans queued for export (more are dropped and counted) "
           "when `max_queue_size=` is not given", "2048"),
    EnvVar("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "instrument", "spans per export request when "
           "`max_export_batch_size=` is not given", "512"),
    EnvVar("OTEL_BSP_EXPORT_TIMEOUT", "instrument", "ms one span export may take when `export_timeout_s=` "
           "is not given", "10000"),
    EnvVar("OTEL_METRIC_EXPORT_INTERVAL", "instrument", "ms between OTLP metric exports when "
           "`export_interval_s=` is not given (the vLLM plugin too)", "5000"),
    EnvVar("OTEL_METRIC_EXPORT_TIMEOUT", "instrument", "ms one metric export may take when "
           "`export_timeout_s=` is not given", "10000"),
    EnvVar("OTEL_SEMCONV_STABILITY_OPT_IN", "instrument", "contrib mode sets it to `http` (stable HTTP "
           "attribute names) unless set", "http", read_by="OTel SDK"),
    # --- infersight's own -----------------------------------------------------------------
    EnvVar("INFERSIGHT_PROCESS_ROLE", "instrument", "`infersight.process.role` resource attribute when "
           "`process_role=` is not given", "server"),
    EnvVar("INFERSIGHT_CAPTURE_EXCEPTION_MESSAGES", "instrument", "1: record exception messages on spans "
           "(they may hold user data); `PrivacyOptions.capture_exception_messages` wins", "0"),
    EnvVar("INFERSIGHT_GPU_EXPORT_INTERVAL", "gpu", "ms between the GPU plane's own OTLP exports", "1000"),
    EnvVar("INFERSIGHT_GPU_PRICE_PER_HOUR", "vllm", "USD per GPU-hour for the vLLM plugin's cost attributes"),
    EnvVar("INFERSIGHT_GPU_INSTANCE_TYPE", "vllm", "cloud instance type whose list price the vLLM plugin uses"),
    EnvVar("INFERSIGHT_OTLP_ENDPOINT", "vllm", "collector base URL of the vLLM plugin (wins over "
           "OTEL_EXPORTER_OTLP_ENDPOINT)"),
    EnvVar("INFERSIGHT_VLLM_DISABLE", "vllm", "1: the vLLM plugin does nothing", "0"),
    EnvVar("INFERSIGHT_TOKEN", "collectors", "bearer token of `infersight collect` and of readers of a "
           "running collector (diagnose, the UI)"),
    EnvVar("INFERSIGHT_DEMO_<FIELD>", "demo", "any field of the demo server's ServerConfig "
           "(INFERSIGHT_DEMO_ROWS, INFERSIGHT_DEMO_FAULTS, ...)"),
    EnvVar("INFERSIGHT_DEMO_DATA", "demo", "where the demo keeps its payment table",
           "~/.cache/infersight-demo"),
)


def lookup(name: str) -> EnvVar | None:
    """The catalog entry for ``name`` (exact names first, then families)."""
    for var in VARIABLES:
        if var.name == name:
            return var
    for var in VARIABLES:
        if var.matches(name):
            return var
    return None


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    return value if value is not None and value.strip() != "" else None


def resolve(argument: T | None, name: str, default: T, parse: Callable[[str], T], *,
            environ: Mapping[str, str] | None = None) -> T:
    """``argument`` if given, else ``parse($name)`` if set and usable, else ``default``."""
    if argument is not None:
        return argument
    raw = _raw(name, environ)
    if raw is None:
        return default
    try:
        return parse(raw.strip())
    except (ValueError, TypeError):
        logger.warning("infersight: %s=%r cannot be used (%s); using %r", name, raw,
                       (lookup(name) or EnvVar(name, "", "")).meaning or "see docs/configuration.md", default)
        return default


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be >= 1")
    return value


def positive_ms_as_s(raw: str) -> float:
    """A positive number of milliseconds, in seconds."""
    value = float(raw)
    if not value > 0:
        raise ValueError("must be > 0")
    return value / 1000.0


def flag(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1/0, true/false, yes/no or on/off")


def markdown() -> str:
    """The table of ``docs/configuration.md``."""
    rows = ["| variable | part | default | meaning | read by |", "|---|---|---|---|---|"]
    for v in VARIABLES:
        rows.append(f"| `{v.name}` | {v.part} | {f'`{v.default}`' if v.default else ''} | {v.meaning} | {v.read_by} |")
    return "\n".join(rows) + "\n"


__all__ = ["VARIABLES", "EnvVar", "flag", "lookup", "markdown", "positive_int", "positive_ms_as_s", "resolve"]


if __name__ == "__main__":  # pragma: no cover - regenerates the table of docs/configuration.md
    import sys

    sys.stdout.write(markdown())
