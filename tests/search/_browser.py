"""What the browser tests share: Chromium, the project's UI commands on free ports, one small study.

* :func:`launch_chromium` starts Debian's ``/usr/bin/chromium`` headless through Playwright (never
  a browser downloaded by ``playwright install``).
* :func:`ui_command` starts ``python -m search.dashboard`` / ``search.ui`` as a user would, waits
  for the URL it logs, and on the way out stops it with SIGINT and checks that it exited with 0,
  without a traceback, and left no process listening on its port.
* :func:`tiny_study` runs ``python -m search.run`` once per session (3 trials, 300 images, one
  epoch, MLflow into a temporary SQLite store) **while optuna-dashboard watches it**: a browser
  page is open on the study and the test polls the dashboard's API as fast as it answers. What
  the watching saw is kept in :class:`WatchReport` for ``test_dashboard``.
* :func:`screenshot_on_failure` keeps a screenshot of a failed test's page in ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = REPO / "test-artifacts"
VIEWPORT = {"width": 1400, "height": 900}

#: the study every browser test looks at
FAMILY = "lenet"
STUDY_NAME = "lenet-fashion_mnist"
N_TRIALS = 3

#: skip where Chromium is missing, but not in CI (``$CI`` set): there the tests run, and fail
requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"), reason=f"{CHROMIUM} is not installed (make system)"
)


def free_port() -> int:
    """A TCP port nothing listens on at the moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def get_json(url: str, timeout: float = 30) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def launch_chromium(playwright: Any) -> Any:
    """Headless Chromium from Debian's package, driven by Playwright."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@dataclass
class RunningUI:
    """A UI command started by a test."""

    process: subprocess.Popen[str]
    url: str
    port: int
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def ui_command(
    module: str, *args: str, log: Path, port: int | None = None, timeout: float = 300
) -> Iterator[RunningUI]:
    """Run ``python -m <module> --port PORT <args>`` until the ``with`` block ends.

    Waits until the command logs its URL (it does so once the server answers). On exit sends
    SIGINT, as Ctrl-C does, and asserts a clean stop: exit code 0, no traceback, port closed.
    """
    port = port or free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port), *args],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    ui = RunningUI(process, "", port, log)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"(http://127\.0\.0\.1:\d+/)", ui.output())
            if match:
                ui.url = match.group(1)
                break
            if process.poll() is not None:
                pytest.fail(f"{module} exited with {process.returncode}:\n{ui.output()}")
            time.sleep(0.3)
        else:
            pytest.fail(f"{module} did not log its URL within {timeout:.0f}s:\n{ui.output()}")
        yield ui
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"{module} did not stop within 60 s of Ctrl-C:\n{ui.output()}")
    output = ui.output()
    assert code == 0, f"{module} exited with {code} after Ctrl-C:\n{output}"
    assert "Traceback" not in output, output
    assert not port_is_open(port), f"{module} left a server on port {port}"


@contextlib.contextmanager
def screenshot_on_failure(request: pytest.FixtureRequest, page: Any) -> Iterator[None]:
    """Save ``page`` to ``test-artifacts/<test>.png`` when the test fails."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::")[-1])
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@contextlib.contextmanager
def browser_page(request: pytest.FixtureRequest, viewport: dict[str, int]) -> Iterator[Any]:
    """A page of a fresh headless Chromium, screenshotted when the test using it fails."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport=viewport)
        page.set_default_timeout(60_000)
        with screenshot_on_failure(request, page):
            yield page
        browser.close()


@dataclass
class WatchReport:
    """What watching the study in optuna-dashboard saw while ``search.run`` ran."""

    polls: int = 0  # answered API requests
    errors: list[str] = field(default_factory=list)  # failed requests
    trials_seen: int = 0  # most trials one answer listed
    page_opened: bool = False  # a browser page was open on the study
    console_errors: list[str] = field(default_factory=list)


@dataclass
class StudyRun:
    """The study of :func:`tiny_study` and where its stores are."""

    folder: Path
    storage: str
    artifacts: Path
    tracking_uri: str
    search_output: str
    search_code: int
    search_seconds: float
    watch: WatchReport


_STUDY: StudyRun | None = None


def tiny_study(keras_home: Path, folder: Path) -> StudyRun:
    """The session's study, run the first time a test asks for it (see the module docstring)."""
    global _STUDY
    if _STUDY is None:
        _STUDY = _run_watched_study(keras_home, folder)
    return _STUDY


def _run_watched_study(keras_home: Path, folder: Path) -> StudyRun:
    from playwright.sync_api import sync_playwright

    storage = f"sqlite:///{folder}/optuna.db"  # the default storage's kind: one SQLite file
    artifacts = folder / "artifacts"
    tracking_uri = f"sqlite:///{folder}/mlruns/mlflow.db"
    (folder / "mlruns").mkdir(parents=True, exist_ok=True)
    search = [
        sys.executable, "-m", "search.run", "--study", FAMILY,
        "--limit", "300", "--max-epochs", "1", "--n-trials", str(N_TRIALS), "--seed", "1",
        "--pruner", "none", "--storage", storage, "--artifacts", str(artifacts),
        "--tracking-uri", tracking_uri,
    ]  # fmt: skip
    env = {**os.environ, "KERAS_HOME": str(keras_home), "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    watch = WatchReport()
    search_log = folder / "search.log"
    with (
        ui_command(
            "search.dashboard", "--storage", storage, "--artifacts", str(artifacts), log=folder / "dashboard.log"
        ) as board,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport=VIEWPORT)
        page.on("console", lambda m: watch.console_errors.append(m.text) if m.type == "error" else None)
        page.goto(board.url + "dashboard")
        start = time.monotonic()
        with search_log.open("w") as out:
            process = subprocess.Popen(search, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        study_id: int | None = None
        while process.poll() is None:
            try:
                studies = get_json(board.url + "api/studies")["study_summaries"]
                watch.polls += 1
                ids = [s["study_id"] for s in studies if s["study_name"] == STUDY_NAME]
                if ids and study_id is None:
                    study_id = ids[0]
                    # the page a user watches: the study's trials, updated live by the dashboard
                    page.goto(f"{board.url}dashboard/studies/{study_id}/trials")
                    watch.page_opened = True
                if study_id is not None:
                    detail = get_json(f"{board.url}api/studies/{study_id}")
                    watch.polls += 1
                    watch.trials_seen = max(watch.trials_seen, len(detail["trials"]))
            except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
                watch.errors.append(f"{type(exc).__name__}: {exc}")
            page.wait_for_timeout(100)  # lets the page's own polling run too
        seconds = time.monotonic() - start
        browser.close()
    return StudyRun(
        folder=folder,
        storage=storage,
        artifacts=artifacts,
        tracking_uri=tracking_uri,
        search_output=search_log.read_text(errors="replace"),
        search_code=process.returncode,
        search_seconds=seconds,
        watch=watch,
    )
