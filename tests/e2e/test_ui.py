"""The Dagster UI in a real browser: the real webserver on this project, headless Chromium.

The assets are first materialized with the command line into a temporary Dagster home (the
committed config/dagster.yaml), so the UI has runs and metadata to show. Needs Debian's
chromium (``make ui-deps``); Playwright drives it and never downloads a browser.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import config_mapping, write_config_file

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PARTITIONS = "2011-02...2011-03"
SERVER_START_TIMEOUT = 90
PAGE_TIMEOUT_MS = 30_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(folder: Path) -> dict[str, str]:
    config = write_config_file(
        folder, config_mapping(snapshots={"start": "2010-12", "end": "2011-03"})
    )
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "config" / "dagster.yaml", home / "dagster.yaml")
    return os.environ | {
        "SEGMENTATION_CONFIG": str(config),
        "DAGSTER_HOME": str(home),
    }


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and the code server it started (one process group), bounded."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def webserver(tmp_path_factory) -> Iterator[str]:
    """A materialized project served by dagster-webserver; yields its base URL."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make ui-deps` (installs Debian's chromium)")
    folder = tmp_path_factory.mktemp("ui")
    env = _environment(folder)
    materialize = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "pipelines.definitions"]
        + ["--select", "*", "--partition-range", PARTITIONS],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert materialize.returncode == 0, materialize.stderr[-3000:]

    port = _free_port()
    log = (folder / "webserver.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-m", "pipelines.definitions"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"webserver exited: {(folder / 'webserver.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"webserver not up in {SERVER_START_TIMEOUT}s")
            time.sleep(0.5)
        yield base
    finally:
        _stop(server)
        log.close()


@pytest.fixture(scope="module")
def page(webserver: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            # the UI greets a new browser with a newsletter dialog; skip it whenever it shows
            greeting = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
            page.add_locator_handler(
                greeting, lambda dialog: dialog.get_by_role("button", name="Skip").click()
            )
            yield page
        finally:
            browser.close()


def test_catalog_lists_the_project_assets(webserver: str, page, tmp_path: Path) -> None:
    # the catalog renders only the rows in view: tall enough for all ~30 assets of the project
    page.set_viewport_size({"width": 1600, "height": 3000})
    page.goto(f"{webserver}/assets")
    for key in ("marts / customer_segments", "raw / transactions", "reports / segment_report"):
        page.get_by_text(key, exact=True).first.wait_for()
    page.get_by_text("Materialized", exact=True).first.wait_for()  # statuses loaded
    page.screenshot(path=tmp_path / "catalog.png")


def test_asset_page_shows_materialization_metadata(webserver: str, page, tmp_path: Path) -> None:
    page.goto(f"{webserver}/assets/marts/customer_segments?view=events")
    page.get_by_text("rfm_segments", exact=True).first.wait_for()
    page.get_by_text("dagster/row_count", exact=True).first.wait_for()
    page.get_by_text("Champions", exact=True).first.wait_for()
    page.screenshot(path=tmp_path / "customer_segments_events.png")


def test_asset_page_shows_the_checks(webserver: str, page, tmp_path: Path) -> None:
    page.goto(f"{webserver}/assets/marts/customer_segments?view=checks")
    for check in ("segment_share_drift", "latest_snapshot_fresh"):
        page.get_by_text(check, exact=True).first.wait_for()
    page.screenshot(path=tmp_path / "customer_segments_checks.png")


def test_report_chart_renders_in_the_ui(webserver: str, page, tmp_path: Path) -> None:
    page.goto(f"{webserver}/assets/reports/segment_report")
    page.locator("tr", has_text="segment_sizes").get_by_text("Show Markdown").click()
    image = page.get_by_role("dialog").locator('img[src^="data:image/png;base64,"]')
    image.wait_for()
    width, height = image.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
    assert width > 300 and height > 150  # decoded by the browser, not just present
    page.screenshot(path=tmp_path / "segment_report_chart.png")
