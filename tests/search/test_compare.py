"""``search.compare`` over two real studies, checked against Optuna's storage."""

from __future__ import annotations

import csv
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search import compare
from tests.search.conftest import Finished


def test_table_has_a_row_per_study_that_matches_the_storage(
    finished: Finished, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compare.main(["--storage", finished.storage, "--out", str(tmp_path), "--html"]) == 0
    rows = {r["study"]: r for r in csv.DictReader((tmp_path / "compare.csv").open())}
    assert set(rows) == {"lenet-fashion_mnist", "cnn-fashion_mnist"}
    for name, row in rows.items():
        study = optuna.load_study(study_name=name, storage=finished.storage)
        trials = study.get_trials()
        for state, column in ((TrialState.COMPLETE, "complete"), (TrialState.PRUNED, "pruned"), (TrialState.FAIL, "failed")):
            assert int(row[column]) == sum(t.state == state for t in trials), column
        assert int(row["pruned"]) + int(row["failed"]) + int(row["complete"]) == len(trials)
        seconds = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials)
        assert float(row["search_seconds"]) == pytest.approx(seconds, abs=0.1)
        best = max(study.get_trials(states=[TrialState.COMPLETE]), key=lambda t: t.values[0])
        assert float(row["best_val_accuracy"]) == pytest.approx(best.values[0])
        assert float(row["best_training_seconds"]) == pytest.approx(best.user_attrs["training_seconds"])
        assert int(row["best_params"]) == best.user_attrs["param_count"]
        assert float(row["test_accuracy"]) == pytest.approx(study.user_attrs["test_evaluation"]["accuracy"])
    assert rows["lenet-fashion_mnist"]["family"] == "lenet" and rows["cnn-fashion_mnist"]["family"] == "cnn"
    markdown = (tmp_path / "compare.md").read_text().splitlines()
    assert markdown[0].startswith("| study | family | dataset |") and len(markdown) == 2 + 2
    out = capsys.readouterr().out
    assert "lenet-fashion_mnist" in out and "cnn-fashion_mnist" in out
    assert all(int(r["complete"]) >= 1 and r["test_accuracy"] for r in rows.values())
    page = (tmp_path / "compare.html").read_text()
    for name in ("lenet-fashion_mnist", "cnn-fashion_mnist", "Pareto front"):  # a trace per study, the front
        assert page.count(f'"name":"{name}"') == 1, name
    assert page.count("<script") >= 1 and '<script src="http' not in page  # plotly.js inlined


def test_figure_has_every_complete_trial_and_an_unbeaten_front(finished: Finished) -> None:
    studies = [optuna.load_study(study_name=n, storage=finished.storage) for n in ("lenet-fashion_mnist", "cnn-fashion_mnist")]
    fig = compare.accuracy_time_figure(studies)
    assert [t.name for t in fig.data] == ["lenet-fashion_mnist", "cnn-fashion_mnist", "Pareto front"]
    points = []
    for trace, study in zip(fig.data[:2], studies, strict=True):
        complete = study.get_trials(states=[TrialState.COMPLETE])
        assert sorted(trace.y) == sorted(t.values[0] for t in complete)
        assert sorted(trace.x) == sorted(t.user_attrs["training_seconds"] for t in complete)
        for t in complete:  # hover: the trial and its params
            (text,) = [x for x in trace.text if x.startswith(f"{study.study_name} trial {t.number}<br>")]
            assert all(f"{k}={v}" in text for k, v in t.params.items())
        points += zip(trace.x, trace.y, strict=True)
    front = list(zip(fig.data[2].x, fig.data[2].y, strict=True))
    assert front and fig.data[2].mode == "lines+markers"
    for x, y in front:  # no trial is at least as fast and more accurate
        assert not any(ox <= x and oy > y for ox, oy in points)
    for x, y in points:  # and every trial off the front is beaten by a point on it
        assert (x, y) in front or any(fx <= x and fy >= y for fx, fy in front)


def test_named_studies_only(finished: Finished, tmp_path: Path) -> None:
    assert compare.main(["lenet-fashion_mnist", "--storage", finished.storage, "--out", str(tmp_path)]) == 0
    rows = list(csv.DictReader((tmp_path / "compare.csv").open()))
    assert [r["study"] for r in rows] == ["lenet-fashion_mnist"]
    assert not (tmp_path / "compare.html").exists()


def test_pareto_front_keeps_only_unbeaten_points() -> None:
    points = [(10.0, 0.80), (5.0, 0.85), (20.0, 0.90), (30.0, 0.88), (5.0, 0.70)]
    assert compare.pareto_front(points) == [1, 2]


def test_unknown_study_is_one_line_exit_2(finished: Finished, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        compare.main(["nosuch", "--storage", finished.storage, "--out", str(tmp_path)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no study 'nosuch'" in err[0] and "lenet-fashion_mnist" in err[0]
    assert not (tmp_path / "compare.csv").exists()
