"""The dashboard page in headless Chromium against a live uvicorn server with traffic.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); without them
these tests fail with a message saying so. Screenshots go to ``artifacts/`` (git-ignored).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from rfs_monitoring._demo import create_app
from rfs_monitoring.alerts import AlertConfiguration, AlertManager, AlertRule
from rfs_monitoring.dashboard_api import monitoring_router
from rfs_monitoring.metrics import ResultMetricsCollector

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"none of {', '.join(names)} is installed: the dashboard browser tests need Debian's "
        "chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """Headless Chromium that keeps the page's console messages."""
    options = Options()
    options.binary_location = _binary("chromium", "chromium-browser", "google-chrome")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1100", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(_binary("chromedriver")))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


class LiveServer:
    """uvicorn serving an app on a free 127.0.0.1 port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def page_state(driver: webdriver.Chrome) -> dict[str, Any]:
    """What the page reports about itself."""
    state: dict[str, Any] = driver.execute_script("return window.__rfsDashboard || null;") or {}
    return state


def wait_rendered(driver: webdriver.Chrome, renders: int = 1) -> None:
    """Wait until the page has completed ``renders`` refreshes (or reported an error)."""
    WebDriverWait(driver, 30).until(
        lambda d: page_state(d).get("renders", 0) >= renders or page_state(d).get("lastError")
    )
    assert page_state(driver).get("lastError") is None, page_state(driver)


def assert_no_javascript_errors(driver: webdriver.Chrome) -> None:
    """Neither the console nor window.onerror saw an error."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    severe = [entry for entry in entries if entry["level"] == "SEVERE"]
    assert severe == []
    state = page_state(driver)
    assert state["errors"] == []
    assert state["lastError"] is None


def dataset(driver: webdriver.Chrome, element_id: str) -> dict[str, str]:
    """The data-* attributes of an element."""
    data: dict[str, str] = driver.execute_script(
        "return Object.assign({}, document.getElementById(arguments[0]).dataset);", element_id
    )
    return data


def test_dashboard_renders_live_numbers_and_charts(browser: webdriver.Chrome) -> None:
    """Against the demo with traffic: the table, charts, errors and alerts show real data, the
    controls work, and no JavaScript error happens."""
    app = create_app(rps=80)
    with LiveServer(app) as server:
        browser.get(server.url("/monitoring/dashboard#range=1h"))
        wait_rendered(browser)
        rows = browser.find_elements(By.CSS_SELECTOR, "#ops tbody tr")
        names = {row.get_attribute("data-op") for row in rows}
        assert names == {
            "user_retrieval",
            "order_creation",
            "order_lookup",
            "payment_authorization",
        }
        for row in rows:
            cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            assert int(cells[1].replace(",", "")) > 0  # requests
            assert cells[2].endswith("%")  # success rate
            assert float(cells[5].replace(",", "")) > 0  # p99
        assert int(browser.find_element(By.ID, "c-total").text.replace(",", "")) > 1000
        assert browser.find_element(By.ID, "health").text.lower() in {
            "healthy",
            "degraded",
            "unhealthy",
        }
        latency, rate, hours = (
            dataset(browser, "lat"),
            dataset(browser, "rate"),
            dataset(browser, "hours"),
        )
        assert int(latency["values"]) > 60  # three lines with dozens of points each
        assert float(latency["max"]) > 0
        assert int(rate["values"]) > 20
        assert 0 < float(rate["max"]) <= 100
        assert int(hours["total"]) > 0
        breakdown = browser.find_elements(By.CSS_SELECTOR, "#breakdown .n")
        assert breakdown
        assert int(breakdown[0].text.replace(",", "")) > 0
        assert browser.find_elements(By.CSS_SELECTOR, "#errors tbody tr")

        # The selected operation's steps: where the time goes, and where failures start.
        renders = page_state(browser)["renders"]
        browser.find_element(By.CSS_SELECTOR, "#ops tbody tr[data-op=user_retrieval]").click()
        wait_rendered(browser, renders + 1)
        steps = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#steps .name")]
        assert [s.removeprefix("⚠ ") for s in steps] == [
            "user_service_call",
            "user_validation",
            "user_retrieval_error",
        ]
        step_numbers = browser.find_elements(By.CSS_SELECTOR, "#steps .n")
        assert all("% ok of" in e.text for e in step_numbers)

        # Sorting by name, then selecting another operation, then another window.
        header = browser.find_element(By.CSS_SELECTOR, "#ops th[data-k=name]")
        header.click()
        assert header.get_attribute("aria-sort") == "ascending"
        first = browser.find_elements(By.CSS_SELECTOR, "#ops tbody tr")[0]
        assert first.get_attribute("data-op") == "order_creation"
        renders = page_state(browser)["renders"]
        browser.find_element(By.CSS_SELECTOR, "#ops tbody tr[data-op=order_lookup]").click()
        wait_rendered(browser, renders + 1)
        assert browser.find_element(By.ID, "sel-name").text == "order_lookup"
        assert "op=order_lookup" in browser.current_url
        renders = page_state(browser)["renders"]
        Select(browser.find_element(By.ID, "range")).select_by_value("5m")
        wait_rendered(browser, renders + 1)
        assert "range=5m" in browser.current_url

        # It refreshes on its own, without reloading the page.
        Select(browser.find_element(By.ID, "every")).select_by_value("2000")
        browser.execute_script("window.__marker = 42;")
        renders = page_state(browser)["renders"]
        wait_rendered(browser, renders + 1)
        assert browser.execute_script("return window.__marker;") == 42

        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
        assert_no_javascript_errors(browser)


def test_dashboard_handles_500_operations_and_firing_alerts(browser: webdriver.Chrome) -> None:
    """With 500 operations (and one whose name needs escaping) and a firing alert the page
    renders every row, the selected operation's charts and the alert."""
    collector = ResultMetricsCollector(sample_resources=False)
    for i in range(500):
        for j in range(20):
            collector.record(f"op-{i:03d}", 1.0 + j, j != 0 or i % 50 != 0, error_code="E")
    for j in range(50):  # the busiest, so the page selects it: its name needs URL encoding
        collector.record("GET /users/{id}?<b>", 2.0 + j, True)
    rule = AlertRule(
        name="op-000-errors", operation="op-000", metric="error_count", op=">", threshold=0
    )
    manager = AlertManager(collector, AlertConfiguration(rules=[rule], notifiers=[]))
    app = FastAPI()
    app.include_router(monitoring_router(collector, manager))
    try:
        with LiveServer(app) as server:
            browser.get(server.url("/monitoring/dashboard"))
            wait_rendered(browser)
            assert len(browser.find_elements(By.CSS_SELECTOR, "#ops tbody tr")) == 501
            assert browser.find_element(By.ID, "c-ops").text == "501"
            assert browser.find_element(By.ID, "sel-name").text == "GET /users/{id}?<b>"
            assert int(dataset(browser, "lat")["values"]) > 0
            alerts = browser.find_element(By.ID, "alerts").text
            assert "FIRING" in alerts
            assert "op-000-errors" in alerts
            assert browser.find_element(By.ID, "c-alerts").text == "1"
            filter_box = browser.find_element(By.ID, "filter")
            filter_box.send_keys("op-04")
            assert len(browser.find_elements(By.CSS_SELECTOR, "#ops tbody tr")) == 10
            ARTIFACTS.mkdir(exist_ok=True)
            browser.save_screenshot(str(ARTIFACTS / "dashboard-500.png"))
            assert_no_javascript_errors(browser)
    finally:
        collector.close()


def test_dashboard_asks_for_the_token_when_reads_are_protected(browser: webdriver.Chrome) -> None:
    """With protect_reads the page shows a token form, then renders once given the token."""
    collector = ResultMetricsCollector(sample_resources=False)
    collector.record("guarded", 3.0, True)
    app = FastAPI()
    app.include_router(monitoring_router(collector, token="let-me-in", protect_reads=True))
    try:
        with LiveServer(app) as server:
            browser.get(server.url("/monitoring/dashboard"))
            WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "auth").is_displayed())
            browser.find_element(By.ID, "token").send_keys("let-me-in")
            browser.find_element(By.CSS_SELECTOR, "#auth button").click()
            WebDriverWait(browser, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#ops tbody tr[data-op=guarded]")
            )
            # The 401 answers before the token was given are expected console errors.
            browser.get_log("browser")  # type: ignore[no-untyped-call]
            wait_rendered(browser)
            assert page_state(browser)["errors"] == []
            assert not browser.find_element(By.ID, "auth").is_displayed()
    finally:
        collector.close()


def test_operations_table_fits_a_1400px_window(browser: webdriver.Chrome) -> None:
    """At 1400x900 the operations table needs no horizontal scrollbar, with six-digit counts,
    four-digit latencies and a long operation name (which is ellipsized, not scrolled); success
    rates are coloured by the router's health thresholds."""
    collector = ResultMetricsCollector(sample_resources=False)
    names = ["user_retrieval", "payment_authorization", "order_creation",
             "GET /api/v1/organizations/{org_id}/members/{member_id}/permissions"]  # fmt: skip
    for n, name in enumerate(names):
        handle = collector.operation(name)
        for i in range(120_000 if n == 0 else 20_000):
            handle.record(1.0 + (i % 997) * 2.5, i % 23 != 0, error_code="E")
    app = FastAPI()
    app.include_router(monitoring_router(collector, degraded_below=0.95, unhealthy_below=0.5))
    browser.set_window_size(1400, 900)
    browser.get("about:blank")  # the previous test's page stops polling its stopped server
    browser.get_log("browser")  # type: ignore[no-untyped-call]
    try:
        with LiveServer(app) as server:
            browser.get(server.url("/monitoring/dashboard"))
            wait_rendered(browser)
            assert browser.execute_script("return window.innerWidth;") == 1400
            assert len(browser.find_elements(By.CSS_SELECTOR, "#ops tbody tr")) == len(names)
            first_row = browser.find_element(By.CSS_SELECTOR, "#ops tbody tr")
            cells = first_row.find_elements(By.TAG_NAME, "td")
            assert cells[1].text == "120,000"
            assert (cells[2].text, cells[2].get_attribute("class")) == ("95.65%", "healthy")
            widths: dict[str, int] = browser.execute_script(
                "const box = document.getElementById('ops').parentElement;"
                "return {scroll: box.scrollWidth, client: box.clientWidth,"
                " page: document.documentElement.scrollWidth,"
                " viewport: document.documentElement.clientWidth};"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            browser.save_screenshot(str(ARTIFACTS / "dashboard-1400.png"))
            assert widths["scroll"] <= widths["client"], widths
            assert widths["page"] <= widths["viewport"], widths
            assert_no_javascript_errors(browser)
    finally:
        browser.set_window_size(1440, 1100)
        collector.close()


def test_dashboard_shows_every_process_on_a_shared_directory(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """Two collectors on one shared directory (two workers): the header says "2 processes",
    the processes table has a row per worker with its own numbers, the operations table the
    merged totals, and a 30-day window is offered."""
    here = ResultMetricsCollector(shared_dir=tmp_path, sample_resources=False)
    other = ResultMetricsCollector(shared_dir=tmp_path, sample_resources=False)
    for i in range(30):
        here.record("checkout", 5.0, True)
        other.record("checkout", 50.0, i % 10 != 0, error_code="E_OTHER")
    here.sync(), other.sync()
    app = FastAPI()
    app.include_router(monitoring_router(here))
    browser.set_window_size(1440, 1100)
    browser.get("about:blank")
    browser.get_log("browser")  # type: ignore[no-untyped-call]
    try:
        with LiveServer(app) as server:
            browser.get(server.url("/monitoring/dashboard"))
            wait_rendered(browser)
            assert browser.find_element(By.ID, "procs").text == "2 processes"
            rows = browser.find_elements(By.CSS_SELECTOR, "#workers tbody tr")
            cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
            assert len(cells) == 2
            assert cells[0][0].endswith("(this)")
            assert sorted((c[1], c[2]) for c in cells) == [("30", "0"), ("30", "3")]
            assert browser.find_element(By.ID, "c-total").text == "60"
            assert "Shared directory" in browser.find_element(By.ID, "workers-note").text
            options = [
                o.get_attribute("value")
                for o in Select(browser.find_element(By.ID, "range")).options
            ]
            assert "30d" in options
            ARTIFACTS.mkdir(exist_ok=True)
            browser.save_screenshot(str(ARTIFACTS / "dashboard-workers.png"))
            assert_no_javascript_errors(browser)
    finally:
        here.close()
        other.close()
