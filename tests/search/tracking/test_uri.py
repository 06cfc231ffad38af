"""The tracking URI is checked before a search starts: MLflow 3's folder store needs its opt-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.core import UsageError
from search.tracking import check_tracking_uri


@pytest.mark.parametrize("form", ["file://{}", "{}"])
def test_a_folder_store_needs_mlflows_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    uri = form.format(tmp_path / "mlruns")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(UsageError, match="only with MLFLOW_ALLOW_FILE_STORE=true .* sqlite:///"):
        check_tracking_uri(uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert check_tracking_uri(uri) == uri
    assert not (tmp_path / "mlruns").exists()  # checked, not created
