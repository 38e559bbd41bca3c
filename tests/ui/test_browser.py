"""The web UI in a real browser: headless Chromium (Debian chromium + chromium-driver) via selenium.

Against a collector holding a real demo run (tests/data/runs/full_sync, the reference
incident): open the overview, search the slowest traces, open the slowest one's waterfall,
then the findings for the data and one of their exemplar traces. Screenshots go to a temp
folder, or to ``$INFERSIGHT_SCREENSHOTS`` (the README's images are made that way:
``INFERSIGHT_SCREENSHOTS=docs/images .venv/bin/python -m pytest tests/ui/test_browser.py``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from infersight.collectors import Collector
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.integration

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")


def need(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make system-deps` (Debian packages chromium chromium-driver)")
    return path


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = need("chromium")
    for flag in FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="infersight-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=opts, service=Service(need("chromedriver")))
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(driver: webdriver.Chrome, folder: Path, name: str) -> Path:
    """A PNG of the page (the viewport grown to its height, at most 1500 px)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1400, "height": min(max(height, 700), 1500), "deviceScaleFactor": 1,
                            "mobile": False})
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return path


def test_find_a_slow_trace_open_its_waterfall_and_the_findings(ui_collector: Collector, browser: Any,
                                                               tmp_path: Path) -> None:
    out = Path(os.environ.get("INFERSIGHT_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 60)
    browser.get(ui_collector.url + "/ui?from=all")
    routes = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "table.is-table td code")]
    assert "POST /v1/chat/completions" in routes
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart path")) >= 3
    shot(browser, out, "ui-overview")

    # Traces -> slowest first -> Search
    browser.find_element(By.LINK_TEXT, "Traces").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "form.is-filters")))
    Select(browser.find_element(By.NAME, "service")).select_by_visible_text("demo-model-server")
    Select(browser.find_element(By.NAME, "order")).select_by_value("slowest")
    browser.find_element(By.CSS_SELECTOR, "form.is-filters button").click()
    wait.until(ec.url_contains("order=slowest"))
    rows = browser.find_elements(By.CSS_SELECTOR, "table.is-hits tbody tr")
    assert len(rows) == 50
    first = rows[0].find_element(By.CSS_SELECTOR, ".is-dur span").text
    assert first.endswith(("ms", " s")) and float(first.split()[0].replace(",", "")) > 1000
    shot(browser, out, "ui-traces")

    # the slowest trace's waterfall: spans, the event-loop block it sat through, the job beside it
    rows[0].find_element(By.CSS_SELECTOR, "td a").click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "section.is-wf")))
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "details.is-span .is-name")]
    assert names[0].startswith("POST /v1/chat/completions") and len(names) >= 8
    assert browser.find_elements(By.CSS_SELECTOR, ".is-mark.ev-loop, .is-mark.ev-gc")
    others = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "a.is-other .is-name")]
    assert any(o.startswith("payments_full_sync") for o in others)
    # a click on a span opens its attributes
    browser.find_element(By.CSS_SELECTOR, "details.is-span summary").click()
    assert "http.route" in browser.find_element(By.CSS_SELECTOR, "details.is-span[open] .is-kv").text
    shot(browser, out, "ui-trace")

    # Findings for the whole run (the page refreshes itself until the diagnosis is done)
    browser.get(ui_collector.url + "/ui/findings?from=all")
    WebDriverWait(browser, 120).until(ec.presence_of_element_located((By.CSS_SELECTOR, "body.is-report")))
    titles = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert any("payments_full_sync" in t for t in titles), titles
    shot(browser, out, "ui-findings")
    exemplar = browser.find_element(By.CSS_SELECTOR, "a[href^='/ui/trace/']")
    exemplar.click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "section.is-wf")))
    assert browser.find_elements(By.CSS_SELECTOR, "details.is-span")
