"""``search.report`` on real studies: the figures, the tables, and the copy logged to MLflow."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow import MlflowClient

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
    assert "Not available" not in page
    assert page.count("<script>/**\n* plotly.js v") == 1  # embedded once: opens offline
    assert '<script src="http' not in page and "<script src='http" not in page
    assert page.count('class="plotly-graph-div"') == 7  # 5 of Optuna's, learning curves, confusion matrix
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=finished.storage)
    evaluation = study.user_attrs["test_evaluation"]
    table = page.split(">Per class</h3>", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 10  # header and one row per class
    assert "T-shirt/top" in table
    assert np.array(evaluation["confusion"]).sum() == 400  # --limit 400: the test subset's size
    # the learning curves come from the trial's MLflow run: training loss is there too
    assert re.search(r'"name":"loss"', page)
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
