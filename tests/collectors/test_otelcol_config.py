"""deploy/otelcol/config.yaml, checked structurally (no otelcol-contrib binary can be installed
here: none on PyPI, npm or Debian, so its own `validate` command does not run): every pipeline
uses components defined above it, OTLP in on both protocols, memory_limiter first and batch
last before the ClickHouse exporter, and the exporter writes exactly the tables the analysis reads
(collectors/clickhouse_exporter_ddl.sql)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from infersight.collectors.clickhouse import EXPORTER_TABLES, exporter_ddl

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "otelcol" / "config.yaml"


def test_collector_config_structure() -> None:
    cfg = yaml.safe_load(CONFIG.read_text())
    assert set(cfg) == {"receivers", "processors", "exporters", "extensions", "service"}
    assert set(cfg["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    pipelines = cfg["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs"}
    for name, p in pipelines.items():
        assert set(p["receivers"]) <= set(cfg["receivers"]), name
        assert set(p["processors"]) <= set(cfg["processors"]), name
        assert set(p["exporters"]) <= set(cfg["exporters"]), name
        assert p["processors"][0] == "memory_limiter" and p["processors"][-1] == "batch", name
        assert p["exporters"] == ["clickhouse"], name
    assert set(cfg["service"]["extensions"]) <= set(cfg["extensions"])


def test_collector_writes_the_tables_the_analysis_reads() -> None:
    ch = yaml.safe_load(CONFIG.read_text())["exporters"]["clickhouse"]
    written = {ch["traces_table_name"], ch["logs_table_name"], *(t["name"] for t in ch["metrics_tables"].values())}
    assert written == set(EXPORTER_TABLES)
    ddl_tables = set(re.findall(r"CREATE TABLE IF NOT EXISTS __DB__\.(\w+) \(", exporter_ddl()))
    assert written <= ddl_tables
    assert re.fullmatch(r"\d+h", ch["ttl"]) and ch["create_schema"] is False
    assert ch["endpoint"].startswith("tcp://") and ch["database"] == "otel"
