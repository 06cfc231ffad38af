"""Fixtures of the ``search`` tests: small finished studies that several modules read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from search import run


@dataclass(frozen=True)
class Finished:
    """Two small real studies in one storage: ``lenet-fashion_mnist`` (3 trials, tracked in MLflow)
    and ``cnn-fashion_mnist`` (2 trials, accuracy and time as objectives, not tracked)."""

    folder: Path
    storage: str
    artifacts: Path
    tracking_uri: str


@pytest.fixture(scope="session")
def finished(keras_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    folder = tmp_path_factory.mktemp("finished")
    done = Finished(folder, f"sqlite:///{folder}/optuna.db", folder / "artifacts", f"sqlite:///{folder}/mlruns/mlflow.db")
    common = ["--storage", done.storage, "--artifacts", str(done.artifacts), "--limit", "400", "--seed", "2"]
    assert run.main(["--study", "lenet", "--n-trials", "3", "--max-epochs", "2", "--pruner", "none",
                     "--tracking-uri", done.tracking_uri, *common]) == 0  # fmt: skip
    assert run.main(["--study", "cnn", "--n-trials", "2", "--max-epochs", "1", "--objectives", "accuracy,time",
                     "--no-mlflow", *common]) == 0  # fmt: skip
    return done
