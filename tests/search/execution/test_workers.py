"""Many workers on one study: exact trial counts on PostgreSQL and SQLite, bad input, no leaks.

The workers are real processes: ``python -m search.run --workers N`` started as a subprocess on a
small subset of the real Fashion-MNIST (``keras_home``), against a PostgreSQL server started by
the test session (``postgres_db``) or a SQLite file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial

from search import run
from search.results import best_trial

REPO = Path(__file__).resolve().parents[3]
SMALL = [
    "--study",
    "lenet",
    "--limit",
    "300",
    "--max-epochs",
    "1",
    "--seed",
    "3",
    "--pruner",
    "none",
]


def search_run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``python -m search.run ARGS`` in ``tmp_path`` (MLflow and artifacts go there)."""
    return subprocess.run(
        [sys.executable, "-m", "search.run", *args],
        cwd=tmp_path,
        env=worker_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``search.run`` subprocess: this checkout importable, Keras home kept."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra or {})
    return env


def tracking(tmp_path: Path) -> list[str]:
    return [
        "--tracking-uri",
        f"sqlite:///{tmp_path}/mlflow.db",
        "--artifacts",
        str(tmp_path / "artifacts"),
    ]


def check_mlflow_runs(tmp_path: Path, trials: list[FrozenTrial]) -> None:
    """Exactly one MLflow run per finished trial (``mlflow_run_id``), none left running.

    The MLflow tracker (``search.tracking``) stores each trial's run id in the user attribute
    ``mlflow_run_id``; this fails until it does.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    run_ids = [t.user_attrs.get("mlflow_run_id") for t in trials]
    assert all(run_ids), (
        f"trials without an MLflow run: {[t.number for t, r in zip(trials, run_ids) if not r]}"  # noqa: B905
    )
    assert len(set(run_ids)) == len(run_ids), "two trials share an MLflow run"
    for trial, run_id in zip(trials, run_ids, strict=True):
        status = client.get_run(str(run_id)).info.status
        assert status != "RUNNING", f"the MLflow run of trial {trial.number} is still running"
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'")
    assert not running, [r.info.run_id for r in running]


def check_exact(study: optuna.Study, expected: int) -> list[FrozenTrial]:
    """The study holds exactly ``expected`` finished trials, numbered 0..expected-1."""
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(expected)), numbers
    assert all(t.state.is_finished() for t in trials), [(t.number, t.state.name) for t in trials]
    # the workers sample apart (one --seed would otherwise give every worker the same trials)
    assert len({repr(sorted(t.params.items())) for t in trials}) == expected
    return trials


@pytest.mark.postgres
def test_three_workers_on_postgresql_run_exactly_the_requested_trials(
    keras_home: Path, tmp_path: Path, postgres_db: str
) -> None:
    result = search_run(
        tmp_path,
        *SMALL,
        *tracking(tmp_path),
        "--storage",
        postgres_db,
        "--workers",
        "3",
        "--n-trials",
        "6",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    threads = max(1, (os.cpu_count() or 1) // 3)  # an equal share of the cores each
    assert f"3 workers x {threads} threads" in result.stdout, result.stdout
    assert "6 this run" in result.stdout, result.stdout
    assert (
        result.stdout.count("study lenet-fashion_mnist (lenet on fashion_mnist)") == 1
    )  # one summary
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=postgres_db)
    trials = check_exact(study, 6)
    assert len({t.user_attrs["worker"] for t in trials}) >= 2, (
        "the trials were not shared by the workers"
    )
    check_mlflow_runs(tmp_path, trials)


def test_three_workers_on_the_default_local_storage_run_exactly_the_requested_trials(
    keras_home: Path, tmp_path: Path
) -> None:
    result = search_run(tmp_path, *SMALL, *tracking(tmp_path), "--workers", "3", "--n-trials", "6")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "database is locked" not in result.stderr
    default = (
        f"sqlite:///{tmp_path}/storage/optuna.db"  # sqlite:///storage/optuna.db, run in tmp_path
    )
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=default)
    trials = check_exact(study, 6)
    assert len({t.user_attrs["worker"] for t in trials}) >= 2
    check_mlflow_runs(tmp_path, trials)


def test_with_workers_the_parent_refits_the_best_trial_once(keras_home: Path, tmp_path: Path) -> None:
    result = search_run(
        tmp_path, *SMALL, "--no-mlflow", "--artifacts", str(tmp_path / "artifacts"),
        "--workers", "2", "--n-trials", "2", "--refit", "--timeout", "10m",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert output.count("refitting trial") == 1, output[-3000:]  # not once per worker
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=f"sqlite:///{tmp_path}/storage/optuna.db")
    check_exact(study, 2)
    assert study.user_attrs["final_model"]["trial"] == best_trial(study).number  # cross-validated on 30 images
    assert study.user_attrs["final_model"]["images"] == 300


@pytest.mark.postgres
def test_two_machines_share_one_study_trial_count(
    keras_home: Path, tmp_path: Path, postgres_db: str
) -> None:
    """Two invocations (as on two machines) with --study-trials 5 stop at exactly 5 trials."""
    args = [
        sys.executable,
        "-m",
        "search.run",
        *SMALL,
        "--no-mlflow",
        "--no-test",
        "--storage",
        postgres_db,
    ]
    args += ["--workers", "2", "--study-trials", "5", "--artifacts", str(tmp_path / "artifacts")]
    machines = [
        subprocess.Popen(
            args,
            cwd=tmp_path,
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [m.communicate(timeout=900) for m in machines]
    assert [m.returncode for m in machines] == [0, 0], [err[-2000:] for _, err in outputs]
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=postgres_db)
    trials = check_exact(study, 5)
    assert (
        len({t.user_attrs["worker"].rsplit(":", 1)[1] for t in trials}) >= 3
    )  # pids of several workers


def _tensorflow_log(line: str) -> bool:
    """TensorFlow's own start-up lines on stderr (C++ logging, before Python runs any of ours)."""
    return line.startswith(
        ("WARNING: All log messages before absl", "I0000 ", "W0000 ", "E0000 ", "To enable")
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "0"], "--workers must be a positive whole number"),
        (
            ["--workers", "2", "--storage", "sqlite:///:memory:"],
            "--workers needs a storage the workers can share",
        ),
        (["--workers", "3", "--n-trials", "-2"], "--n-trials must be a positive whole number"),
        (["--study-trials", "0"], "--study-trials must be a positive whole number"),
        (["--n-trials", "3", "--study-trials", "3"], "not both"),
        (["--workers", "3", "--study", "nosuch"], "unknown model family 'nosuch'"),
        (
            ["--workers", "3", "--storage", "postgresql://u:s3cret@127.0.0.1:notaport/db"],
            "malformed storage URL",
        ),
        (
            ["--workers", "3", "--storage", "postgresql://u:s3cret@127.0.0.1:1/db"],
            "cannot open storage",
        ),
    ],
)
def test_bad_input_with_workers_exits_2_before_any_worker_starts(
    keras_home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    storage = f"sqlite:///{tmp_path}/optuna.db"
    base = [
        *SMALL,
        "--no-mlflow",
        "--no-test",
        "--storage",
        storage,
        "--artifacts",
        str(tmp_path / "a"),
    ]
    assert run.main([*base, "--n-trials", "1"]) == 0
    before = _digest(tmp_path / "optuna.db")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        run.main([*base, *extra])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert "s3cret" not in captured.err + captured.out
    assert "workers x" not in captured.out  # no worker was started
    assert _digest(tmp_path / "optuna.db") == before


def test_corrupted_data_file_through_the_cli_exits_2_and_stores_nothing(
    keras_home: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "images.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive" * 20)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    result = search_run(
        tmp_path,
        *SMALL,
        "--dataset",
        str(bad),
        "--workers",
        "3",
        "--storage",
        storage,
        "--no-mlflow",
    )
    assert result.returncode == 2
    err = [line for line in result.stderr.strip().splitlines() if not _tensorflow_log(line)]
    assert len(err) == 1 and err[0].startswith("search.run: error: ") and "images.npz" in err[0], (
        err
    )
    assert not (tmp_path / "optuna.db").exists()
    assert "workers x" not in result.stdout


@pytest.mark.postgres
def test_postgresql_bad_input_leaves_the_database_unchanged(
    keras_home: Path, tmp_path: Path, postgres_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import POSTGRES_PASSWORD

    base = [*SMALL, "--no-mlflow", "--no-test", "--artifacts", str(tmp_path / "a")]
    assert run.main([*base, "--storage", postgres_db, "--n-trials", "1"]) == 0

    def snapshot() -> list[tuple[int, str, str]]:
        summaries = optuna.get_all_study_summaries(storage=postgres_db)
        study = optuna.load_study(study_name="lenet-fashion_mnist", storage=postgres_db)
        return [(s.n_trials, s.study_name, "") for s in summaries] + [
            (t.number, t.state.name, str(t.params)) for t in study.trials
        ]

    before = snapshot()
    wrong_password = postgres_db.replace(POSTGRES_PASSWORD, "not-the-password")
    cases = [
        (
            ["--storage", postgres_db, "--workers", "3", "--n-trials", "-1"],
            "--n-trials must be a positive",
        ),
        (["--storage", postgres_db, "--workers", "2", "--study", "nosuch"], "unknown model family"),
        (["--storage", wrong_password, "--workers", "2", "--n-trials", "1"], "cannot open storage"),
        (
            ["--storage", postgres_db, "--workers", "2", "--objectives", "accuracy,time"],
            "other objectives",
        ),
    ]
    for extra, message in cases:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            run.main([*base, *extra])
        assert exited.value.code == 2, extra
        captured = capsys.readouterr()
        err = captured.err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (extra, err)
        assert POSTGRES_PASSWORD not in captured.err + captured.out
        assert "not-the-password" not in captured.err + captured.out
    assert snapshot() == before


@pytest.mark.postgres
def test_storage_password_never_appears_in_logs_or_mlflow(
    keras_home: Path, tmp_path: Path, postgres_db: str
) -> None:
    from mlflow import MlflowClient

    from tests.conftest import POSTGRES_PASSWORD

    result = search_run(
        tmp_path,
        *SMALL,
        *tracking(tmp_path),
        "--storage",
        postgres_db,
        "--workers",
        "2",
        "--n-trials",
        "2",
        "--verbose",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "127.0.0.1" in result.stdout  # the storage is named ...
    assert POSTGRES_PASSWORD not in result.stdout + result.stderr  # ... without its password
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=postgres_db)
    assert POSTGRES_PASSWORD not in repr(study.user_attrs)
    for t in study.trials:
        assert POSTGRES_PASSWORD not in repr(t.user_attrs) + repr(t.system_attrs)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    for r in client.search_runs(experiments) if experiments else []:
        assert POSTGRES_PASSWORD not in repr(r.data.params) + repr(r.data.tags), r.info.run_id
