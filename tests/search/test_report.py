"""``search.report`` on real studies: the figures, the tables, and the copy logged to MLflow."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from search import report
from tests.search.conftest import Finished


def test_report_has_every_figure_and_the_test_evaluation(
    finished: Finished, tmp_path: Path
) -> None:
    out = tmp_path / "lenet.html"
    args = ["--study", "lenet", "--storage", finished.storage, "--out", str(out), "--tracking-uri", finished.tracking_uri]
    assert report.main(args) == 0
    page = out.read_text()
    for title in ("Optimization history", "Intermediate values", "Parameter importances",
                  "Parallel coordinates", "Slices", "Learning curves", "Per class", "Confusion matrix"):  # fmt: skip
        assert f">{title}</h" in page, title
    # --pruner none: no trial reported intermediate values; that one figure is a note, the rest drawn
    assert re.findall(r"Not available: ([^<]*)", page) == [
        "no trial reported per-epoch values to Optuna (they are reported for its pruner: --pruner none skips it)"
    ]
    assert page.count("<script>/**\n* plotly.js v") == 1  # embedded once: opens offline
    assert '<script src="http' not in page and "<script src='http" not in page
    assert page.count('class="plotly-graph-div"') == 6  # 4 of Optuna's, learning curves, confusion matrix
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=finished.storage)
    evaluation = study.user_attrs["test_evaluation"]
    table = page.split(">Per class</h3>", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 10  # header and one row per class
    assert "T-shirt/top" in table
    assert np.array(evaluation["confusion"]).sum() == 400  # --limit 400: the test subset's size
    heatmap = re.search(r'"type":"heatmap"[^\n]*?"z":(\[\[[0-9,\[\]]*\]\])', page) or re.search(
        r'"z":(\[\[[0-9,\[\]]*\]\])[^\n]*?"type":"heatmap"', page
    )
    assert heatmap is not None
    assert json.loads(heatmap.group(1)) == evaluation["confusion"]  # the matrix drawn is the one evaluated
    # the learning curves come from the trial's own record in Optuna: training loss is there too
    assert "From the user attribute history of the trial in Optuna" in page
    for curve in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert f'"name":"{curve}"' in page, curve
    # and the page is logged to the study's parent run
    client = MlflowClient(tracking_uri=finished.tracking_uri)
    (parent_id,) = study.user_attrs["mlflow_parent_run_ids"]
    logged = [a.path for a in client.list_artifacts(parent_id, "report")]
    assert logged == ["report/lenet.html"]
    copy = client.download_artifacts(parent_id, "report/lenet.html", str(tmp_path / "dl"))
    assert Path(copy).read_text() == page


def test_multi_objective_report_shows_the_pareto_front(finished: Finished, tmp_path: Path) -> None:
    out = tmp_path / "cnn.html"
    assert report.main(["--study", "cnn", "--storage", finished.storage, "--out", str(out), "--no-mlflow"]) == 0
    page = out.read_text()
    assert ">Pareto front</h2>" in page and ">Intermediate values</h2>" not in page
    assert ">Confusion matrix</h3>" in page


def test_unknown_study_is_one_line_exit_2(finished: Finished, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        report.main(["--study", "resnet", "--storage", finished.storage, "--out", str(tmp_path / "r.html")])
    assert exited.value.code == 2
    assert "no study 'resnet-fashion_mnist'" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_no_mlflow_still_draws_the_curves_and_logs_nothing(finished: Finished, tmp_path: Path) -> None:
    out = tmp_path / "offline.html"
    args = ["--study", "lenet", "--storage", finished.storage, "--out", str(out), "--no-mlflow"]
    assert report.main([*args, "--tracking-uri", finished.tracking_uri]) == 0
    page = out.read_text()
    assert '"name":"loss"' in page and '"name":"val_accuracy"' in page  # all from Optuna's storage
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=finished.storage)
    (parent_id,) = study.user_attrs["mlflow_parent_run_ids"]
    logged = [a.path for a in MlflowClient(tracking_uri=finished.tracking_uri).list_artifacts(parent_id, "report")]
    assert "report/offline.html" not in logged


def test_a_single_complete_trial_notes_the_missing_importances(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/one.db"
    study = optuna.create_study(study_name="one", storage=storage, direction="maximize")
    study.set_user_attr("family", "lenet")
    study.set_user_attr("dataset", "fashion_mnist")
    lr = FloatDistribution(1e-4, 1e-1, log=True)
    study.add_trial(create_trial(params={"learning_rate": 1e-3}, distributions={"learning_rate": lr}, value=0.8,
                                 intermediate_values={0: 0.7, 1: 0.8}, user_attrs={"training_seconds": 3.0}))  # fmt: skip
    study.add_trial(create_trial(state=TrialState.FAIL, params={"learning_rate": 1e-2}, distributions={"learning_rate": lr}))
    out = tmp_path / "one.html"
    assert report.main(["--study", "lenet", "--study-name", "one", "--storage", storage, "--out", str(out), "--no-mlflow"]) == 0
    page = out.read_text()
    assert "Not available: parameter importances need at least 2 complete trials" in page
    assert "1 complete, 0 pruned, 1 failed" in page
    assert ">Best trial 0</h2>" in page and "best trial has not been evaluated" in page
    assert "From the validation accuracy reported to Optuna after each epoch" in page  # no history attribute
    # history, intermediate values, parallel coordinates, slices, learning curves: plotly.js once
    assert page.count('class="plotly-graph-div"') == 5 and page.count("<script>/**\n* plotly.js v") == 1


def test_a_trial_without_history_gets_its_curves_from_its_mlflow_run(finished: Finished, tmp_path: Path) -> None:
    lenet = optuna.load_study(study_name="lenet-fashion_mnist", storage=finished.storage)
    run_id = lenet.best_trial.user_attrs["mlflow_run_id"]  # a real run with per-epoch metrics
    storage = f"sqlite:///{tmp_path}/old.db"
    study = optuna.create_study(study_name="old", storage=storage, direction="maximize")
    lr = FloatDistribution(1e-4, 1e-1, log=True)
    study.add_trial(create_trial(params={"learning_rate": 1e-3}, distributions={"learning_rate": lr}, value=0.8,
                                 user_attrs={"mlflow_run_id": run_id}))  # fmt: skip
    out = tmp_path / "old.html"
    args = ["--study", "lenet", "--study-name", "old", "--storage", storage, "--out", str(out)]
    assert report.main([*args, "--tracking-uri", finished.tracking_uri]) == 0
    page = out.read_text()
    assert f"From MLflow run {run_id}" in page and '"name":"val_loss"' in page
