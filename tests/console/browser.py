"""Debian's chromium driven by Selenium through chromium-driver, a real Prometheus, and
``hubsync console serve`` as a process: what the browser tests run against."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from hubsync._runtime.processes import free_port
from hubsync.testing import wait_for
from hubsync.testing.child_env import child_env
from tests.ingest.worker_harness import WorkerProcess, _hubsync_command

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PROMETHEUS = "/usr/bin/prometheus"
#: where each page's screenshot goes (CI keeps them with its logs)
SCREENSHOTS = Path(
    os.environ.get("HUBSYNC_SCREENSHOT_DIR", Path(__file__).parents[2] / ".hubsync" / "screenshots")
)

# Chromium's own connections (updates, sync, field trials) are refused on a closed network, and
# root needs --no-sandbox; a fresh profile per browser keeps tests apart
_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1360,1000",
)


@contextlib.contextmanager
def chromium() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="hubsync-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: WebDriver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def sign_in_browser(driver: WebDriver, base_url: str, user: str, password: str) -> None:
    driver.get(f"{base_url}/login")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "signed-in-as"))


def text_of(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def notice(driver: WebDriver) -> str:
    """The one-time notice of the page a form led to (waiting for that page to load)."""
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.ID, "notice"))
    return text_of(driver, "notice")


def reload_until(driver: WebDriver, url: str, condition: object, what: str, timeout: float = 60) -> None:
    """Load ``url`` again until ``condition(driver)`` holds (a page shows what the sync did)."""

    def shown() -> bool:
        driver.get(url)
        return bool(condition(driver))  # type: ignore[operator]

    wait_for(shown, timeout=timeout, interval=1.0, what=what)


@contextlib.contextmanager
def prometheus(targets: list[str]) -> Iterator[str]:
    """A Prometheus scraping ``targets`` (host:port) every second; yields its base URL."""
    work = Path(tempfile.mkdtemp(prefix="hubsync-prometheus-"))
    (work / "prometheus.yml").write_text(
        textwrap.dedent(
            f"""\
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: hubsync
                static_configs:
                  - targets: {targets!r}
            """
        )
    )
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"prometheus exited: {(work / 'prometheus.log').read_text()}")
            try:
                return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=30, interval=0.2, what="prometheus ready")
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


class ConsoleProcess(WorkerProcess):
    """``hubsync console serve ARGS`` with the harness's output capture, waiting and stopping."""

    def start(self) -> ConsoleProcess:
        self._log_dir = tempfile.TemporaryDirectory(prefix="hubsync-console-")
        self.log_path = Path(self._log_dir.name) / "console.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*_hubsync_command(), "console", "serve", *self.args],
                env=child_env(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self


def hubsync(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run a ``hubsync`` command as an operator would; fails with its output when it fails."""
    done = subprocess.run(
        [*_hubsync_command(), *args],
        env=child_env(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (
        f"hubsync {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    )
    return done.stdout
