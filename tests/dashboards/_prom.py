"""Test harness: Debian's prometheus on 127.0.0.1, and an HTTP target replaying recorded /metrics.

Both are real: the Prometheus binary scrapes over HTTP and answers the HTTP API; the replay
target serves a text file recorded from a real server (a GPU run, a vllm serve run), with every
counter and histogram advanced on each scrape so rate()/histogram_quantile() have data.
"""

from __future__ import annotations

import http.server
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from tests.conftest import free_port

_SUFFIXES = ("_total", "_bucket", "_sum", "_count")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+\S+)?\s*$")


class ReplayTarget:
    """Serves ``text`` (Prometheus text format) with counters/histograms growing per scrape."""

    def __init__(self, text: str, growth: float = 0.05) -> None:
        self.lines = text.splitlines()
        self.growth = growth
        self.scrapes = 0
        self.kinds: dict[str, str] = {}
        for line in self.lines:
            if line.startswith("# TYPE "):
                _, _, fam, kind = line.split(None, 3)
                self.kinds[fam] = kind.strip()
        self._server: http.server.ThreadingHTTPServer | None = None

    def _family_kind(self, sample: str) -> str:
        if sample in self.kinds:
            return self.kinds[sample]
        for suf in _SUFFIXES:
            if sample.endswith(suf) and sample[: -len(suf)] in self.kinds:
                return self.kinds[sample[: -len(suf)]]
        return "untyped"

    @property
    def content_type(self) -> str:
        if any(line.strip() == "# EOF" for line in self.lines):
            return "application/openmetrics-text; version=1.0.0; charset=utf-8"
        return "text/plain; version=0.0.4; charset=utf-8"

    def render(self) -> str:
        self.scrapes += 1
        factor = 1 + self.growth * self.scrapes
        out = []
        for line in self.lines:
            if line.startswith("#") or not line.strip():
                out.append(line)
                continue
            m = _SAMPLE.match(line.split(" # ")[0])  # drop an exemplar
            if not m:
                raise ValueError(f"cannot parse recorded sample line {line!r}")
            name, labels, value = m.group(1), m.group(2) or "", m.group(3)
            if self._family_kind(name) in ("counter", "histogram") and not name.endswith("_created"):
                value = repr(float(value) * factor)
            out.append(f"{name}{labels} {value}")  # recorded timestamps dropped: "now" instead
        return "\n".join(out) + "\n"

    @contextmanager
    def serve(self) -> Iterator[str]:
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = target.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", target.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"127.0.0.1:{self._server.server_address[1]}"
        finally:
            self._server.shutdown()
            self._server.server_close()


def fast_rules(rule_dir: Path, tmp: Path) -> list[str]:
    """The repository's rule files with every group evaluated each second (same expressions)."""
    out = []
    for path in sorted(rule_dir.glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for group in doc.get("groups", []):
            group["interval"] = "1s"
        dest = tmp / path.name
        dest.write_text(yaml.safe_dump(doc))
        out.append(str(dest))
    return out


@contextmanager
def prometheus(binary: str, tmp: Path, jobs: dict[str, list[str]], rule_files: list[str]) -> Iterator[str]:
    """Start prometheus scraping ``jobs`` every second (exemplar storage on); yield its URL."""
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": rule_files,
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}
                           for job, targets in jobs.items()],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=exemplar-storage",
         "--storage.tsdb.retention.time=1h", "--web.enable-lifecycle"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(tmp / 'prometheus.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not become ready in 30 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def wait_targets_up(url: str, jobs: set[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {}
    while time.monotonic() < deadline:
        active = httpx.get(f"{url}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
        last = {t["labels"]["job"]: t["health"] for t in active}
        if all(last.get(j) == "up" for j in jobs):
            return
        time.sleep(0.5)
    raise AssertionError(f"targets not up after {timeout} s: {last}")
