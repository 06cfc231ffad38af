"""``python -m search.ui`` (the MLflow UI) in headless Chromium, on the runs ``search.run`` logged.

Needs the MLflow tracker (issue 3): every trial is a run, linked by the trial's ``mlflow_run_id``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from tests.search._browser import (
    N_TRIALS,
    STUDY_NAME,
    RunningUI,
    StudyRun,
    browser_page,
    requires_chromium,
    tiny_study,
    ui_command,
)

pytestmark = [pytest.mark.browser, requires_chromium]

WIDE = {"width": 1800, "height": 900}  # the runs table shows its columns side by side


@pytest.fixture(scope="module")
def study_run(keras_home: Path, tmp_path_factory: pytest.TempPathFactory) -> StudyRun:
    return tiny_study(keras_home, tmp_path_factory.mktemp("browse"))


@pytest.fixture(scope="module")
def mlflow_ui(study_run: StudyRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUI]:
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    with ui_command("search.ui", "--tracking-uri", study_run.tracking_uri, log=log) as ui:
        yield ui


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Any]:
    with browser_page(request, WIDE) as opened:
        yield opened


def _trial_runs(run: StudyRun) -> tuple[str, dict[int, Any]]:
    """The study's experiment id and the MLflow run of every trial, found through the trial's link."""
    from mlflow import MlflowClient

    trials = optuna.load_study(study_name=STUDY_NAME, storage=run.storage).get_trials()
    missing = [t.number for t in trials if "mlflow_run_id" not in t.user_attrs]
    assert not missing, f"trials {missing} have no mlflow_run_id: is the MLflow tracker (issue 3) in place?"
    client = MlflowClient(tracking_uri=run.tracking_uri)
    runs = {t.number: client.get_run(str(t.user_attrs["mlflow_run_id"])) for t in trials}
    experiments = {r.info.experiment_id for r in runs.values()}
    assert len(experiments) == 1, "one experiment per study"
    return experiments.pop(), runs


def _close_assistant(page: Any) -> None:
    close = page.get_by_role("button", name="Close", exact=True)
    if close.count():
        close.first.click()


def show_trial_runs(page: Any, url: str, experiment_id: str, names: list[str]) -> None:
    """Open the experiment's runs table and expand nested runs until every name in ``names`` shows."""
    page.goto(f"{url}#/experiments/{experiment_id}/runs")
    page.get_by_text("matching runs").wait_for()
    _close_assistant(page)
    name_cells = page.locator("[role=gridcell][col-id='attributes.`Run Name`']")
    name_cells.first.wait_for()
    expanders = name_cells.locator("button")
    for i in range(expanders.count()):  # parent runs of search.run invocations: show their trials
        expanders.nth(i).click()
    for name in names:
        page.get_by_role("link", name=name, exact=True).wait_for()


def show_metric_columns(page: Any, metrics: list[str]) -> list[str]:
    """Turn on the metric columns in the runs table ("Columns" > Metrics); returns the headers."""
    page.get_by_role("button", name="Columns", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Metrics (", exact=False).click()
    page.keyboard.press("Escape")
    for metric in metrics:
        page.locator("[role=columnheader]", has_text=metric).first.wait_for()
    return page.locator("[role=columnheader]").all_inner_texts()


def compare_two(page: Any, names: list[str]) -> None:
    """Tick two runs and open MLflow's comparison of them."""
    for name in names[:2]:
        row = page.locator("[role=row]", has=page.get_by_role("link", name=name, exact=True))
        row.locator("input[type=checkbox]").first.check(force=True)
    page.get_by_role("button", name="Compare", exact=True).click()
    page.get_by_text("Comparing 2 Runs", exact=False).wait_for()
    for name in names[:2]:
        page.get_by_text(name, exact=True).first.wait_for()


def test_experiment_shows_one_run_per_trial_with_metric_columns(
    study_run: StudyRun, mlflow_ui: RunningUI, page: Any
) -> None:
    experiment_id, runs = _trial_runs(study_run)
    assert len(runs) == N_TRIALS
    names = [r.info.run_name for r in runs.values()]
    assert len(set(names)) == N_TRIALS
    show_trial_runs(page, mlflow_ui.url, experiment_id, names)
    metrics = sorted(set.intersection(*(set(r.data.metrics) for r in runs.values())))
    assert metrics, "the trial runs have no metric in common"
    headers = show_metric_columns(page, metrics[:3])
    assert any(metrics[0] in h for h in headers)


def test_comparison_of_two_trial_runs_opens(study_run: StudyRun, mlflow_ui: RunningUI, page: Any) -> None:
    experiment_id, runs = _trial_runs(study_run)
    names = [r.info.run_name for r in runs.values()]
    show_trial_runs(page, mlflow_ui.url, experiment_id, names)
    compare_two(page, names)
    first = runs[0]
    for param in list(first.data.params)[:3]:  # the parameters the comparison lines up
        page.get_by_text(param, exact=True).first.wait_for()
