"""Bring your own model through the command line: ``search.run --space`` with a user's
``build(hp)`` (keras-tuner's getting-started model, unchanged) and a user's ``Space`` subclass,
single process and ``--workers 2``; then report, compare and predict read the study back; bad user
code is one line naming the file, exit 2, nothing stored."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "tests" / "user_project"
KT = PROJECT / "kt_getting_started.py"


def _run(args: list[str], cwd: Path, keras_home: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {"KERAS_HOME": str(keras_home), "PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_keras_tuner_build_hp_is_searched_with_workers_and_read_back(keras_home: Path, tmp_path: Path) -> None:
    """The guide's build_model, searched by two worker processes that each load the file
    themselves; the study is named after the file, its trials hold the build's own parameters,
    and report, compare and predict (which loads the user's module) work on it."""
    done = _run(["search.run", "--space", f"{KT}:build_model", "--limit", "800", "--n-trials", "4",
                 "--max-epochs", "2", "--workers", "2", "--seed", "3", "--no-mlflow"], tmp_path, keras_home)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    study = optuna.load_study(study_name="kt_getting_started-fashion_mnist", storage=f"sqlite:///{tmp_path}/storage/optuna.db")
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 4
    assert {t.user_attrs["worker"] for t in trials}.__len__() == 2  # both workers trained
    for trial in trials:  # the guide's knobs, and the model compiled by build_model (no platform optimizer knob)
        assert {"num_layers", "activation", "dropout", "lr", "units_0"} <= set(trial.params)
        assert "optimizer" not in trial.params
        assert all(f"units_{i}" in trial.params for i in range(trial.params["num_layers"]))
    assert study.user_attrs["space"] == f"{KT}:build_model"
    report = _run(["search.report", "--space", f"{KT}:build_model", "--no-mlflow"], tmp_path, keras_home)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "reports" / "kt_getting_started-fashion_mnist.html").is_file()
    compare = _run(["search.compare", "--space", f"{KT}:build_model"], tmp_path, keras_home)
    assert compare.returncode == 0, compare.stderr
    assert "kt_getting_started-fashion_mnist" in compare.stdout
    from PIL import Image

    Image.new("L", (28, 28), color=0).save(tmp_path / "black.png")
    predict = _run(["search.predict", "--space", f"{KT}:build_model", str(tmp_path / "black.png")], tmp_path, keras_home)
    assert predict.returncode == 0, predict.stderr
    assert "black.png" in predict.stdout


def test_a_space_subclass_with_presets_and_a_different_space_refused_on_resume(
    keras_home: Path, tmp_path: Path
) -> None:
    space = str(PROJECT / "my_space.py")
    done = _run(["search.run", "--space", space, "--limit", "600", "--n-trials", "2", "--max-epochs", "2",
                 "--enqueue-presets", "--no-mlflow", "--no-test"], tmp_path, keras_home)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "enqueued presets: small" in done.stdout
    show = _run(["search.run", "--space", space, "--show-space"], tmp_path, keras_home)
    assert show.returncode == 0 and "tiny_cnn" in show.stdout and "small" in show.stdout
    other = _run(["search.run", "--space", f"{KT}:build_model", "--study-name", "tiny_cnn-fashion_mnist",
                  "--limit", "600", "--n-trials", "1", "--no-mlflow"], tmp_path, keras_home)  # fmt: skip
    assert other.returncode == 2
    assert other.stderr.count("\n") == 1 and "was made for space" in other.stderr


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")) if folder.exists() else []:
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bad/syntax_error.py", "syntax_error.py:"),
        ("bad/import_error.py", "import_error.py:"),
        ("bad/build_raises.py", "build_raises.py:"),
        ("bad/not_a_model.py", "not_a_model.py"),
        ("bad/wrong_classes.py", "wrong_classes.py"),
        ("kt_getting_started.py:no_such_name", "no_such_name"),
        ("no_such_file.py", "no_such_file.py"),
    ],
)
def test_bad_user_code_is_one_line_exit_2_and_stores_nothing(
    spec: str, expected: str, keras_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "storage").mkdir()
    (tmp_path / "storage" / "keep.txt").write_text("the user's own file")
    before = _tree_digest(tmp_path / "storage")
    done = _run(["search.run", "--space", str(PROJECT / spec), "--limit", "300", "--n-trials", "1", "--no-mlflow"],
                tmp_path, keras_home, timeout=300)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("search.run: error:") and expected in lines[0], done.stderr
    assert _tree_digest(tmp_path / "storage") == before  # no study database, no artifact
    assert not (tmp_path / "mlruns").exists()


def test_points_that_fail_to_build_fail_their_trial_and_the_study_goes_on(keras_home: Path, tmp_path: Path) -> None:
    done = _run(["search.run", "--space", str(PROJECT / "bad" / "some_points_fail.py"), "--limit", "400",
                 "--n-trials", "6", "--max-epochs", "1", "--sampler", "random", "--seed", "0", "--no-mlflow",
                 "--no-test"], tmp_path, keras_home)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    study = optuna.load_study(study_name="some_points_fail-fashion_mnist", storage=f"sqlite:///{tmp_path}/storage/optuna.db")
    by_deep = {t.params["deep"]: t for t in study.trials}
    assert set(by_deep) == {True, False}, "seed 0 should draw both kinds of point"
    failed = [t for t in study.trials if t.params["deep"]]
    assert all(t.state != optuna.trial.TrialState.COMPLETE for t in failed)
    reasons = [t.user_attrs.get("fail_reason") or t.user_attrs.get("pruned_reason", "") for t in failed]
    assert all("some_points_fail.py:" in r for r in reasons), reasons
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials if not t.params["deep"])


def test_a_space_an_installed_package_registers_is_a_study_name(keras_home: Path, tmp_path: Path) -> None:
    """``[project.entry-points."keras_hpsearch.spaces"]`` of an installed package: ``--study NAME``."""
    site = tmp_path / "site"
    dist = site / "tinypkg-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[keras_hpsearch.spaces]\ntiny_cnn = my_space:TinyCnnSpace\n")
    env = {"KERAS_HOME": str(keras_home), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "PYTHONPATH": f"{REPO}:{site}:{PROJECT}"}  # fmt: skip
    show = subprocess.run([sys.executable, "-m", "search.run", "--study", "tiny_cnn", "--show-space"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert show.returncode == 0, show.stderr
    assert show.stdout.startswith("tiny_cnn: one conv") and "small" in show.stdout
    assert show.stderr == ""
