"""deploy/: the compose file against the compose spec, k8s manifests against Kubernetes schemas
(kubernetes-validate, offline), CRDs and Helm values by structure, all tied to the rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import DASHBOARDS, ROOT

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
                           str(path)], capture_output=True, text=True, timeout=60)


def test_compose_matches_compose_spec() -> None:
    r = _check_jsonschema(DEPLOY / "docker-compose.yml")
    assert r.returncode == 0, r.stdout + r.stderr


def test_compose_spec_check_rejects_a_broken_file(tmp_path: Path) -> None:
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    doc["services"]["grafana"]["ports"] = {"not": "a list"}
    bad = tmp_path / "compose.yml"
    bad.write_text(yaml.safe_dump(doc))
    assert _check_jsonschema(bad).returncode != 0


def test_compose_stack_shape() -> None:
    doc = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = doc["services"]
    assert set(services) == {"collector", "demo", "prometheus", "grafana"}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (DEPLOY / src).resolve().exists(), f"{name} mounts missing {src}"
    prom = services["prometheus"]
    assert "--enable-feature=exemplar-storage" in prom["command"]
    assert services["demo"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    grafana_mounts = {v.split(":")[1] for v in services["grafana"]["volumes"]}
    assert "/etc/grafana/provisioning/datasources" in grafana_mounts
    assert "/var/lib/grafana/dashboards/infersight" in grafana_mounts
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [c["static_configs"][0]["targets"] for c in scrape["scrape_configs"]]
    assert ["demo:8000"] in targets
    assert ["collector:4318"] in targets  # the collector's own /metrics (overview's Collector row)
    env = services["grafana"]["environment"]
    assert env["INFERSIGHT_COLLECTOR_URL"] == "http://collector:4318"  # Grafana's server side
    assert env["INFERSIGHT_UI_URL"].endswith("127.0.0.1:4318}")  # the browser's side (published port)
    assert "127.0.0.1:4318:4318" in services["collector"]["ports"]


def test_grafana_provisioning_points_at_the_boards() -> None:
    ds = yaml.safe_load((DASHBOARDS / "provisioning" / "datasources" / "infersight.yml").read_text())
    by_uid = {d["uid"]: d for d in ds["datasources"]}
    prom, traces = by_uid["prometheus"], by_uid["infersight-traces"]
    assert prom["type"] == "prometheus" and prom["isDefault"] is True
    # Grafana's built-in Jaeger data source, pointed at the collector (its /api is the Jaeger API)
    assert traces["type"] == "jaeger" and traces["url"] == "${INFERSIGHT_COLLECTOR_URL}"
    internal, link = prom["jsonData"]["exemplarTraceIdDestinations"]
    assert internal == {"name": "trace_id", "datasourceUid": "infersight-traces"}
    assert link["name"] == "trace_id" and link["url"] == "${INFERSIGHT_UI_URL}/ui/trace/$${__value.raw}"
    dash = yaml.safe_load((DASHBOARDS / "provisioning" / "dashboards" / "infersight.yml").read_text())
    assert dash["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/infersight"


@pytest.mark.parametrize("name", ["deployment.yaml", "service.yaml", "hpa.yaml"])
def test_core_manifests_match_kubernetes_schema(name: str) -> None:
    import kubernetes_validate
    for doc in _docs(K8S / name):
        kubernetes_validate.validate(doc, "1.30", strict=True)


def test_kubernetes_schema_check_rejects_a_broken_probe() -> None:
    import kubernetes_validate
    (doc,) = _docs(K8S / "deployment.yaml")
    doc["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = ["http"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, "1.30", strict=True)


def test_probes_and_service_wiring() -> None:
    (dep,) = _docs(K8S / "deployment.yaml")
    (svc,) = _docs(K8S / "service.yaml")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["targetPort"] in [p["name"] for p in c["ports"]]


def test_service_monitor_selects_the_service() -> None:
    (sm,) = _docs(K8S / "servicemonitor.yaml")
    (svc,) = _docs(K8S / "service.yaml")
    assert (sm["apiVersion"], sm["kind"]) == ("monitoring.coreos.com/v1", "ServiceMonitor")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] in [p["name"] for p in svc["spec"]["ports"]]
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"


def test_hpa_scales_on_the_latency_recording_rule(build) -> None:
    (hpa,) = _docs(K8S / "hpa.yaml")
    (dep,) = _docs(K8S / "deployment.yaml")
    values = yaml.safe_load((K8S / "prometheus-adapter-values.yaml").read_text())
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["object"]["target"] == {"type": "Value", "value": "200m"}
    (rule,) = values["rules"]["custom"]
    assert rule["name"]["as"] == metric["object"]["metric"]["name"]
    series = rule["seriesQuery"].split("{")[0]
    recorded = {r["record"]: r for r in build.load_rules() if "record" in r}
    assert series in recorded, f"adapter reads {series}, which no recording rule defines"
    assert "histogram_quantile(0.95" in recorded[series]["expr"]
    assert set(rule["resources"]["overrides"]) == {"namespace", "service"}


def test_prometheus_rule_is_generated_from_the_rules(build) -> None:
    assert (K8S / "prometheusrule.yaml").read_text() == build.render_prometheus_rule()
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for res in kust["resources"]:
        assert (K8S / res).is_file()
