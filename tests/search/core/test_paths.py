"""Default stores and the paths derived from store URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.core import DEFAULT_ARTIFACT_ROOT, DEFAULT_TRACKING_URI, artifact_root_for, sqlite_file


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///storage/optuna.db", Path("storage/optuna.db")),
        ("sqlite:////tmp/x/mlflow.db?timeout=30", Path("/tmp/x/mlflow.db")),
        ("sqlite://", None),  # in memory
        ("sqlite:///:memory:", None),
        ("postgresql://user:pw@127.0.0.1/optuna", None),
        ("not a url", None),
    ],
)
def test_sqlite_file(url: str, expected: Path | None) -> None:
    assert sqlite_file(url) == expected


def test_artifact_root_is_beside_a_sqlite_store_and_the_default_elsewhere() -> None:
    assert artifact_root_for(DEFAULT_TRACKING_URI) == DEFAULT_ARTIFACT_ROOT
    assert artifact_root_for("sqlite:////srv/runs/mlflow.db") == "/srv/runs/artifacts"
    assert artifact_root_for("postgresql://u@db/mlflow") == DEFAULT_ARTIFACT_ROOT
    assert artifact_root_for("http://mlflow:5000") is None
