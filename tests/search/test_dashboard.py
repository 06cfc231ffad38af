"""``python -m search.dashboard`` in headless Chromium, on a study ``search.run`` wrote while watched."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from tests.search._browser import (
    N_TRIALS,
    REPO,
    STUDY_NAME,
    VIEWPORT,
    RunningUI,
    StudyRun,
    browser_page,
    free_port,
    requires_chromium,
    tiny_study,
    ui_command,
)


@pytest.fixture(scope="module")
def study_run(keras_home: Path, tmp_path_factory: pytest.TempPathFactory) -> StudyRun:
    return tiny_study(keras_home, tmp_path_factory.mktemp("browse"))


@pytest.fixture(scope="module")
def dashboard(study_run: StudyRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUI]:
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    with ui_command(
        "search.dashboard", "--storage", study_run.storage, "--artifacts", str(study_run.artifacts), log=log
    ) as ui:
        yield ui


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    with browser_page(request, VIEWPORT) as opened:
        yield opened


def _study(run: StudyRun) -> optuna.Study:
    return optuna.load_study(study_name=STUDY_NAME, storage=run.storage)


@pytest.mark.browser
@requires_chromium
def test_watching_a_live_study_does_not_disturb_it(study_run: StudyRun) -> None:
    watch = study_run.watch
    print(
        f"watched search: {study_run.search_seconds:.1f}s, {watch.polls} dashboard API answers, "
        f"{len(watch.errors)} errors, {watch.trials_seen} trials seen live"
    )
    assert study_run.search_code == 0, study_run.search_output
    trials = _study(study_run).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * N_TRIALS, study_run.search_output
    assert "database is locked" not in study_run.search_output
    # the dashboard really was watching: page open on the study, the API answered all along
    assert watch.page_opened
    assert watch.errors == []
    assert watch.console_errors == [], f"the dashboard page logged errors: {watch.console_errors}"
    assert watch.polls >= 20
    assert watch.trials_seen >= 1


@pytest.mark.browser
@requires_chromium
def test_dashboard_lists_the_study_with_its_trials_and_best_value(
    study_run: StudyRun, dashboard: RunningUI, page: Any
) -> None:
    study = _study(study_run)
    best = study.best_trial
    page.goto(dashboard.url)  # redirects to /dashboard: every study of the storage
    page.get_by_text(STUDY_NAME).first.click()
    page.get_by_text(f"Best Trial (number={best.number})").wait_for()
    page.goto(page.url.rstrip("/") + "/trials")
    page.get_by_text(f"{N_TRIALS} Trials").wait_for()
    for number in range(N_TRIALS):
        assert page.get_by_text(f"Trial {number}", exact=True).count() >= 1
    # the best trial carries the badge, and its page shows the best value
    page.get_by_text(f"Trial {best.number}", exact=True).first.click()
    page.get_by_role("heading", name=f"Trial {best.number} (trial_id=").wait_for()
    assert page.get_by_text("Best Trial").count() >= 2  # in the list and on the trial's page
    page.get_by_text(repr(best.value), exact=True).first.wait_for()


@pytest.mark.browser
@requires_chromium
def test_trial_page_shows_mlflow_links_and_artifacts(
    study_run: StudyRun, dashboard: RunningUI, page: Any
) -> None:
    """The trial's user attributes (its MLflow run) and its Optuna artifacts, served from the store."""
    study = _study(study_run)
    best = study.best_trial
    page.goto(f"{dashboard.url}dashboard/studies/{study._study_id}/trials?numbers={best.number}")
    page.get_by_role("heading", name=f"Trial {best.number} (trial_id={best._trial_id})").wait_for()
    attributes = page.locator("text=User Attributes").locator("xpath=..")
    shown = attributes.inner_text()
    for key in best.user_attrs:
        assert key in shown, f"user attribute {key} not shown"
    if "mlflow_run_id" in best.user_attrs:  # set by the MLflow tracker: the link between the UIs
        assert str(best.user_attrs["mlflow_run_id"]) in shown
    metas = optuna.artifacts.get_all_artifact_meta(best, storage=study._storage)
    assert metas, "the best trial has no Optuna artifact (its model should be one)"
    page.get_by_role("heading", name="Artifacts").scroll_into_view_if_needed()
    for meta in metas:
        page.get_by_text(meta.filename).first.wait_for()
        response = page.request.get(
            f"{dashboard.url}artifacts/{study._study_id}/{best._trial_id}/{meta.artifact_id}"
        )
        assert response.status == 200, meta.filename
        assert response.body() == (study_run.artifacts / meta.artifact_id).read_bytes()
    pngs = [m for m in metas if m.filename.endswith(".png")]
    assert pngs, "the best trial's learning curves (PNG) are not among its artifacts"
    # the learning curves open in the browser straight from the dashboard
    opened = page.goto(f"{dashboard.url}artifacts/{study._study_id}/{best._trial_id}/{pngs[0].artifact_id}")
    assert opened is not None and opened.status == 200
    assert opened.headers["content-type"].startswith("image/png")
    page.go_back()
    page.get_by_role("heading", name=f"Trial {best.number} (trial_id={best._trial_id})").wait_for()


def _run_dashboard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "search.dashboard", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_bad_storage_and_busy_port_exit_2_with_one_line(tmp_path: Path) -> None:
    missing = _run_dashboard("--storage", f"sqlite:///{tmp_path}/nowhere/optuna.db", "--port", str(free_port()))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "does not exist" in missing.stderr
    malformed = _run_dashboard("--storage", "nosuchdb://x", "--port", str(free_port()))
    assert malformed.returncode == 2 and "Traceback" not in malformed.stderr
    assert malformed.stderr.startswith("python -m search.dashboard: error:")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = _run_dashboard("--storage", f"sqlite:///{tmp_path}/optuna.db", "--artifacts", str(tmp_path), "--port", str(port))
    assert taken.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in taken.stderr and "Traceback" not in taken.stderr


def test_sigterm_stops_the_dashboard_cleanly(tmp_path: Path) -> None:
    port = free_port()
    with (tmp_path / "out.log").open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "search.dashboard", "--port", str(port),
             "--storage", f"sqlite:///{tmp_path}/optuna.db", "--artifacts", str(tmp_path)],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while f"http://127.0.0.1:{port}/" not in (tmp_path / "out.log").read_text() and time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / "out.log").read_text()
        time.sleep(0.2)
    process.terminate()
    assert process.wait(timeout=30) == 0
    output = (tmp_path / "out.log").read_text()
    assert "Traceback" not in output and "stopping" in output
