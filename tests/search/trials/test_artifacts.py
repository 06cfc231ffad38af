"""Learning curves and the test evaluation in Optuna's artifact store (seen in optuna-dashboard)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, download_artifact, get_all_artifact_meta

from search import run
from search.results import best_trial


def test_trials_and_study_carry_their_figures(keras_home: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    args = [
        "--study", "lenet", "--storage", storage, "--artifacts", str(tmp_path / "artifacts"),
        "--limit", "300", "--max-epochs", "1", "--n-trials", "2", "--seed", "3", "--no-mlflow",
        "--pruner", "none",
    ]  # fmt: skip
    assert run.main(args) == 0
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=storage)
    store = FileSystemArtifactStore(str(tmp_path / "artifacts"))
    for trial in study.get_trials():
        names = [m.filename for m in get_all_artifact_meta(trial, storage=study._storage)]
        assert f"learning_curves_trial_{trial.number}.png" in names, names
        curves = next(m for m in get_all_artifact_meta(trial, storage=study._storage) if m.filename.endswith(".png"))
        target = tmp_path / f"curves-{trial.number}.png"
        download_artifact(artifact_store=store, file_path=str(target), artifact_id=curves.artifact_id)
        assert target.read_bytes()[:4] == b"\x89PNG"
    best = best_trial(study).number  # the choice the final model follows (by cross-validation on 30 validation images)
    metas = {m.filename: m for m in get_all_artifact_meta(study, storage=study._storage)}
    assert set(metas) == {f"confusion_matrix_trial_{best}.png", f"per_class_trial_{best}.md"}
    table = tmp_path / "per_class.md"
    download_artifact(artifact_store=store, file_path=str(table), artifact_id=metas[f"per_class_trial_{best}.md"].artifact_id)
    rows = [line for line in table.read_text().splitlines() if line.startswith("| ") and "precision" not in line]
    assert len(rows) == 10 and "| T-shirt/top |" in rows[0]
