"""Every user-facing input, wrong: one line on stderr, exit code 2, and nothing stored changed.

One table of cases over the commands' options, data files and folders, storage and tracking URLs
and environment variables. Each case runs the command's ``main`` in this process (most fail before
any data is loaded) in an empty working folder, against existing stores: an Optuna study, an MLflow
experiment and an artifact folder. Every file under both folders is hashed before and after: bad
input must neither change the stores nor create anything (no default ``storage/`` or ``mlruns/``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from search import compare, dashboard, predict, report, run, ui

COMMANDS: dict[str, Any] = {
    "run": run, "report": report, "compare": compare, "predict": predict, "dashboard": dashboard, "ui": ui,
}  # fmt: skip
STUDY = "lenet-fashion_mnist"
MISSING = "sqlite:///{tmp}/no/such/folder/x.db"
#: what a one-class folder, a folder without classes, a broken archive and a file are called below
DATA = {"one": "{tmp}/one_class", "none": "{tmp}/no_classes", "npz": "{tmp}/broken.npz", "file": "{tmp}/afile"}


def case(command: str, args: list[str], expected: str, env: dict[str, str] | None = None, *, id: str) -> Any:
    return pytest.param(command, args, env or {}, expected, id=id)


CASES = [
    # search.run: options
    case("run", ["--study", "nosuch"], "unknown model family 'nosuch'", id="run-family"),
    case("run", ["--n-trials", "0"], "--n-trials must be a positive whole number", id="run-n-trials-0"),
    case("run", ["--n-trials", "many"], "invalid int value", id="run-n-trials-text"),
    case("run", ["--study-trials", "-1"], "--study-trials must be a positive", id="run-study-trials"),
    case("run", ["--n-trials", "2", "--study-trials", "2"], "not both", id="run-both-counts"),
    case("run", ["--timeout", "0"], "--timeout must be positive", id="run-timeout-0"),
    case("run", ["--timeout", "soon"], "invalid duration", id="run-timeout-text"),
    case("run", ["--trial-timeout", "0"], "--trial-timeout must be positive", id="run-trial-timeout"),
    case("run", ["--max-epochs", "0"], "--max-epochs must be at least 1", id="run-max-epochs"),
    case("run", ["--val-fraction", "1.5"], "--val-fraction must be between 0 and 1", id="run-val-fraction"),
    case("run", ["--first-epoch-fraction", "0"], "invalid fraction '0'", id="run-first-epoch-fraction-0"),
    case("run", ["--first-epoch-fraction", "1.5"], "invalid fraction '1.5'", id="run-first-epoch-fraction-big"),
    case("run", ["--limit", "0"], "--limit must be a positive whole number", id="run-limit-0"),
    case("run", ["--seed", "-1"], "--seed must be 0 or more", id="run-seed"),
    case("run", ["--workers", "0"], "--workers must be a positive whole number", id="run-workers-0"),
    case("run", ["--workers", "2", "--storage", "sqlite://"], "not memory", id="run-workers-memory"),
    case("run", ["--threads", "0"], "--threads must be a positive whole number", id="run-threads"),
    case("run", ["--precision", "float16"], "--precision float16 needs a GPU", id="run-precision-float16-cpu"),
    case("run", ["--precision", "fp8"], "invalid choice", id="run-precision-unknown"),
    case("run", ["--precision", "bfloat16", "--mixed-precision"], "not both", id="run-precision-and-mixed"),
    case("run", ["--ensemble", "0"], "--ensemble must be a positive whole number", id="run-ensemble-0"),
    case("run", ["--ensemble", "3", "--objectives", "accuracy,time"], "--ensemble averages", id="run-ensemble-pareto"),
    case("run", ["--cv", "1"], "--cv must be auto, off or a number of folds (2 or more), not 1", id="run-cv-1"),
    case("run", ["--cv", "0"], "--cv must be auto, off or a number of folds", id="run-cv-0"),
    case("run", ["--cv", "-3"], "--cv must be auto, off or a number of folds", id="run-cv-negative"),
    case("run", ["--cv", "2.5"], "--cv must be auto, off or a number of folds", id="run-cv-fraction"),
    case("run", ["--cv", "many"], "--cv must be auto, off or a number of folds (2 or more), not many", id="run-cv-text"),
    case("run", ["--objectives", "time"], "--objectives must start with accuracy", id="run-objectives"),
    case("run", ["--objectives", "accuracy,speed"], "--objectives must start with accuracy", id="run-objective-unknown"),
    case("run", ["--sampler", "magic"], "invalid choice", id="run-sampler"),
    case("run", ["--pruner", "magic"], "invalid choice", id="run-pruner"),
    case("run", ["--engine", "keras-tuner", "--workers", "2"], "--engine keras-tuner runs one process", id="run-kt-workers"),
    case("run", ["--artifacts", DATA["file"]], "a file, not a folder", id="run-artifacts-file"),
    case("run", ["--space", "{tmp}/missing.py"], "no such file", id="run-space-missing"),
    case("run", ["--space", "{tmp}/notaspace.py"], "defines no SPACE", id="run-space-empty"),
    # search.run: data
    case("run", ["--dataset", DATA["one"]], "at least 2 classes", id="run-data-one-class"),
    case("run", ["--dataset", DATA["none"]], "has no class sub-folders", id="run-data-no-classes"),
    case("run", ["--dataset", DATA["npz"]], "cannot read", id="run-data-broken-npz"),
    case("run", ["--dataset", "{tmp}/nowhere"], "unknown data set", id="run-data-missing"),
    case("run", ["--limit", "5"], "too small for 10 classes", id="run-data-limit-too-small"),
    # search.run: the study in the storage
    case("run", ["--study", "cnn", "--study-name", STUDY], "was made for family 'lenet'", id="run-study-other-family"),
    case("run", ["--objectives", "accuracy,time"], "other objectives", id="run-study-other-objectives"),
    # search.run: storage URLs
    case("run", ["--storage", "notaurl"], "malformed storage URL", id="run-storage-malformed"),
    case("run", ["--storage", "bogus://x"], "cannot open storage bogus://x", id="run-storage-scheme"),
    case("run", ["--storage", MISSING], "does not exist", id="run-storage-missing-folder"),
    case("run", ["--storage", "journal://"], "malformed journal storage URL", id="run-storage-journal"),
    case("run", ["--storage", "postgresql://u:s3cret@127.0.0.1:1/db"], "cannot open storage", id="run-storage-down"),
    # search.run: tracking URLs
    case("run", ["--tracking-uri", "bogus://x"], "unknown MLflow tracking scheme 'bogus'", id="run-tracking-scheme"),
    case("run", ["--tracking-uri", "http://127.0.0.1:9"], "does not answer", id="run-tracking-server-down"),
    case("run", ["--tracking-uri", "sqlite:///{tmp}/afile/mlflow.db"], "is a file, not a folder", id="run-tracking-under-file"),
    case("run", ["--tracking-uri", "sqlite:///{tmp}"], "is a folder, not a database", id="run-tracking-folder"),
    case("run", ["--tracking-uri", "file://{tmp}/mlruns"], "only with MLFLOW_ALLOW_FILE_STORE=true", id="run-tracking-file-store"),
    case("run", ["--tracking-uri", "{tmp}/mlruns"], "only with MLFLOW_ALLOW_FILE_STORE=true", id="run-tracking-folder-store"),
    # search.run: environment variables
    case("run", [], "$MLFLOW_TRACKING_URI 'bogus://x'", {"MLFLOW_TRACKING_URI": "bogus://x"}, id="env-mlflow-uri"),
    case("run", [], "$SEARCH_HEARTBEAT_SECONDS must be a positive", {"SEARCH_HEARTBEAT_SECONDS": "often"}, id="env-heartbeat"),
    case("run", [], "$SEARCH_GRACE_SECONDS must be a positive", {"SEARCH_GRACE_SECONDS": "0"}, id="env-grace"),
    case("run", [], "must be longer than $SEARCH_HEARTBEAT_SECONDS", {"SEARCH_HEARTBEAT_SECONDS": "10", "SEARCH_GRACE_SECONDS": "5"}, id="env-grace-short"),
    # the other commands
    case("report", ["--study", "lenet", "--storage", MISSING, "--no-mlflow"], "does not exist", id="report-storage"),
    case("report", ["--study", "cnn", "--no-mlflow"], "no study 'cnn-fashion_mnist'", id="report-study"),
    case("report", ["--study", "lenet", "--tracking-uri", "bogus://x"], "unknown MLflow tracking scheme", id="report-tracking"),
    case("compare", ["--storage", MISSING], "does not exist", id="compare-storage"),
    case("compare", ["nostudy"], "no study 'nostudy'", id="compare-study"),
    case("predict", ["--study", "lenet", "{tmp}/missing.png"], "no image file", id="predict-image"),
    case("predict", ["--study", "lenet", "--top", "0", "x.png"], "--top must be at least 1", id="predict-top"),
    case("dashboard", ["--storage", MISSING], "does not exist", id="dashboard-storage"),
    case("dashboard", ["--port", "99999"], "--port must be between 1 and 65535", id="dashboard-port"),
    case("ui", ["--tracking-uri", "bogus://x"], "unsupported tracking URI", id="ui-tracking"),
    case("ui", ["--port", "-1"], "--port must be between 1 and 65535", id="ui-port"),
]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Existing stores: a lenet study with one trial, an MLflow experiment, an artifact folder."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("stores")
    study = optuna.create_study(study_name=STUDY, storage=f"sqlite:///{folder}/optuna.db", direction="maximize")
    for key, value in {"family": "lenet", "dataset": "fashion_mnist", "objectives": ["accuracy"]}.items():
        study.set_user_attr(key, value)
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 1.0}, distributions={"x": optuna.distributions.FloatDistribution(0, 2)}, value=0.5
        )
    )
    MlflowClient(f"sqlite:///{folder}/mlflow.db").create_experiment(STUDY)
    (folder / "artifacts").mkdir()
    (folder / "artifacts" / "kept.txt").write_text("a model would be here")
    return folder


def _data_files(tmp: Path) -> None:
    from PIL import Image

    (tmp / "one_class" / "shirts").mkdir(parents=True)
    for i in range(6):
        Image.fromarray((np.arange(64).reshape(8, 8) * i % 255).astype("uint8")).save(tmp / "one_class" / "shirts" / f"{i}.png")
    (tmp / "no_classes").mkdir()
    (tmp / "broken.npz").write_text("not a zip archive")
    (tmp / "afile").write_text("a file")
    (tmp / "notaspace.py").write_text("x = 1\n")


def _hashes(*folders: Path) -> dict[str, str]:
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    } | {str(path): "dir" for folder in folders for path in folder.rglob("*") if path.is_dir()}


def _argv(command: str, args: list[str], env: dict[str, str], stores: Path, tmp: Path) -> list[str]:
    """The case's arguments after the stores' (the case's own win: argparse keeps the last)."""
    given = {a for a in args if a.startswith("--")}
    defaults: list[str] = []
    if command in ("run", "report", "compare", "predict", "dashboard"):
        defaults += ["--storage", f"sqlite:///{stores}/optuna.db"]
    if command in ("run", "predict"):
        defaults += ["--artifacts", str(stores / "artifacts")]
    if command in ("run", "report") and "--no-mlflow" not in given and "MLFLOW_TRACKING_URI" not in env:
        defaults += ["--tracking-uri", f"sqlite:///{stores}/mlflow.db"]
    if command == "run":
        count = [] if given & {"--n-trials", "--study-trials"} else ["--n-trials", "1"]
        family = [] if "--space" in given else ["--study", "lenet"]
        defaults = [*family, "--limit", "300", "--max-epochs", "1", *count, *defaults]
    return [a.format(tmp=tmp) for a in [*defaults, *args]]


@pytest.mark.parametrize(("command", "args", "env", "expected"), CASES)
def test_bad_input_is_one_line_exit_2_and_nothing_stored_changes(
    command: str,
    args: list[str],
    env: dict[str, str],
    expected: str,
    stores: Path,
    keras_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _data_files(tmp_path)
    monkeypatch.chdir(work)  # the default stores (storage/, mlruns/, reports/) would go here
    for name in ("MLFLOW_TRACKING_URI", "SEARCH_HEARTBEAT_SECONDS", "SEARCH_GRACE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = _argv(command, args, env, stores, tmp_path)
    before = _hashes(stores, tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        COMMANDS[command].main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exited.value.code == 2, err
    assert len(err) == 1 and expected in err[0], err
    assert "Traceback" not in err[0] and "s3cret" not in err[0]
    assert _hashes(stores, tmp_path) == before  # nothing stored changed, nothing created
