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
        assert int(row["complete"]) == sum(t.state == TrialState.COMPLETE for t in trials)
        assert int(row["pruned"]) + int(row["failed"]) + int(row["complete"]) == len(trials)
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
    page = (tmp_path / "compare.html").read_text()
    for name in ("lenet-fashion_mnist", "cnn-fashion_mnist", "Pareto front"):  # a trace per study, the front
        assert page.count(f'"name":"{name}"') == 1, name


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
