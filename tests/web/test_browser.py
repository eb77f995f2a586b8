"""The dashboard in headless Chromium (Debian's ``chromium`` and ``chromium-driver``).

Over a database filled by the replay: 68 rows, sorting by Funding puts SPKUSDT first, the
short filter leaves only SHORT rows, the symbol page shows the chart, the table picks up the
next cycle without a reload, and the browser's console stays free of errors (a blocked
script or style would be one: the Content-Security-Policy is enforced here, for real).
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.web.server import WebServer
from bot.web_launch import web_deps
from tests.web.conftest import Replayed, replayed

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="headless Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does)",
    ),
]

WAIT_S = 30


class ServedInThread:
    """The web server on its own event loop in a thread, while the test drives the browser."""

    def __init__(self, market: Replayed) -> None:
        deps = replace(web_deps(market.app), refresh_s=1)
        self.market = market
        self.server = WebServer(deps, "127.0.0.1", 0)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="web", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(WAIT_S)
        return f"http://127.0.0.1:{self.server.bound_port}"

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(WAIT_S)
        # The chart worker ran on this loop: stop it here.
        asyncio.run_coroutine_threadsafe(self.market.app.charts.close(), self.loop).result(WAIT_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT_S)
        self.loop.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Replayed]]:
    market = replayed(tmp_path_factory.mktemp("browser") / "browser.sqlite3", cycles=2, held_back=1)
    try:
        with ServedInThread(market) as base:
            yield base, market
    finally:
        market.close()


@pytest.fixture(scope="module")
def browser(site: tuple[str, Replayed]) -> Iterator[Any]:
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--disable-extensions",
        "--no-first-run",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _rows(driver: Any) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    return [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in driver.find_elements(By.CSS_SELECTOR, "#scores tbody tr")
    ]


def _console_errors(driver: Any) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_the_dashboard_in_a_real_browser(browser: Any, site: tuple[str, Replayed], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, market = site
    browser.get(base + "/")
    rows = _rows(browser)
    assert len(rows) == 68
    assert "Avg stress" in browser.find_element(By.ID, "summary").text

    browser.find_element(By.LINK_TEXT, "Funding").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: "sort=funding" in d.current_url)
    assert _rows(browser)[0][1] == "SPKUSDT"

    browser.find_element(By.LINK_TEXT, "Short").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: "filter=short" in d.current_url)
    shorts = _rows(browser)
    assert shorts and all(r[3] == "SHORT" for r in shorts)
    assert len(shorts) < 68

    browser.get(base + "/symbol/SPKUSDT")
    chart = browser.find_element(By.CSS_SELECTOR, ".chart img")
    WebDriverWait(browser, 60).until(
        lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", chart)
    )
    assert "SPKUSDT" in browser.find_element(By.TAG_NAME, "h2").text

    browser.get(base + "/")
    before = browser.find_element(By.CSS_SELECTOR, "#market .as-of").text
    moment = market.run_cycle()  # the next replay step, stored while the page is open
    shown = f"{moment:%Y-%m-%d %H:%M} UTC"
    WebDriverWait(browser, WAIT_S).until(
        lambda d: shown in d.find_element(By.CSS_SELECTOR, "#market .as-of").text
    )
    assert shown not in before
    assert len(_rows(browser)) == 68

    assert _console_errors(browser) == []
