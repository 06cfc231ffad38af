"""The final model in MLflow's Model Registry, dataset inputs and system metrics of the runs,
served over HTTP by ``mlflow models serve``, read back by ``search.predict --model``; and MLflow's
set-up lines kept out of the terminal. Real searches in subprocesses on a fresh tracking store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from search.data import load_dataset
from search.tracking import CHAMPION_ALIAS, dataset_inputs

STUDY = "lenet-fashion_mnist"
LIMIT = 300
ROOT = Path(__file__).resolve().parents[3]
PYTHON = sys.executable
#: what MLflow and Alembic print when they create a store: never shown to the user
SET_UP_LINES = ("Creating initial MLflow database tables", "alembic", "Context impl", "Will assume")


@dataclass
class Store:
    folder: Path
    client: MlflowClient
    tracking_uri: str
    outputs: list[subprocess.CompletedProcess[str]]


def _search(folder: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    args = [
        PYTHON, "-m", "search.run", "--study", "lenet", "--limit", str(LIMIT), "--max-epochs", "2",
        "--storage", f"sqlite:///{folder}/optuna.db", "--artifacts", str(folder / "artifacts"),
        "--tracking-uri", f"sqlite:///{folder}/mlruns/mlflow.db", "--precision", "float32", *extra,
    ]  # fmt: skip  (float32: the same numbers on a CPU with or without native bfloat16)
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def store(keras_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Two searches of one study on a fresh store: an ensemble first, then one more trial."""
    folder = tmp_path_factory.mktemp("registry")
    env = {**os.environ, "KERAS_HOME": str(keras_home), "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_LOGGING_LEVEL", None)
    # TPE's draws with seed 1 give three trials whose ensemble beats the best alone on validation
    # (this test is about the registry, not the sampler: the prior sampler's seed-1 trials did not)
    first = _search(folder, env, "--n-trials", "3", "--ensemble", "3", "--seed", "1", "--sampler", "tpe")
    second = _search(folder, env, "--n-trials", "1", "--seed", "2", "--sampler", "tpe")
    uri = f"sqlite:///{folder}/mlruns/mlflow.db"
    return Store(folder, MlflowClient(tracking_uri=uri), uri, [first, second])


def test_mlflow_set_up_lines_stay_out_of_the_terminal(store: Store) -> None:
    first = store.outputs[0]  # the store did not exist: MLflow created its tables
    for line in SET_UP_LINES:
        assert line not in first.stdout and line not in first.stderr, (line, first.stdout, first.stderr)
    assert "Successfully registered model" not in first.stderr
    assert f"final model registered in MLflow as models:/{STUDY}/1" in first.stdout


def test_dashboard_names_the_objective(store: Store) -> None:
    import optuna

    study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{store.folder}/optuna.db")
    assert study.metric_names == ["validation accuracy"]


def test_each_search_adds_a_version_and_the_champion_is_the_most_accurate(store: Store) -> None:
    versions = store.client.search_model_versions(f"name='{STUDY}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    by_number = {int(v.version): v for v in versions}
    first = by_number[1]
    assert first.tags["study"] == STUDY and first.tags["final_model"] == "ensemble"
    assert len(first.tags["trials"].split(",")) >= 2
    assert 0.0 <= float(first.tags["test_accuracy"]) <= 1.0
    champion = store.client.get_model_version_by_alias(STUDY, CHAMPION_ALIAS)
    best = max(float(v.tags["validation_accuracy"]) for v in versions)
    assert float(champion.tags["validation_accuracy"]) == best
    # the version points at a logged model of the parent run, with a signature and an example
    parent = store.client.get_run(first.run_id)
    assert parent.data.tags["search.role"] == "parent"
    assert [f"models:/{o.model_id}" for o in parent.outputs.model_outputs] == [first.source]


def test_the_logged_model_loads_in_a_fresh_process(store: Store) -> None:
    script = (
        "import mlflow, numpy as np, sys\n"
        f"mlflow.set_tracking_uri({store.tracking_uri!r})\n"
        f"m = mlflow.pyfunc.load_model('models:/{STUDY}@{CHAMPION_ALIAS}')\n"
        "assert 'search' not in sys.modules\n"
        "print(m.metadata.signature.inputs.to_dict()[0]['tensor-spec']['shape'])\n"
        "print(np.asarray(m.predict(np.zeros((2, 28, 28, 1), np.float32))).shape)\n"
    )
    done = subprocess.run([PYTHON, "-c", script], cwd="/", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "(-1, 28, 28, 1)" in done.stdout and "(2, 10)" in done.stdout, done.stdout


def test_runs_record_their_data_and_trials_their_system_metrics(store: Store) -> None:
    experiment = store.client.get_experiment_by_name(STUDY)
    runs = store.client.search_runs([experiment.experiment_id])
    data = load_dataset("fashion_mnist", limit=LIMIT, seed=1)
    expected = {(i.dataset.name, i.dataset.digest) for i in dataset_inputs(data)}
    trials = [r for r in runs if r.data.tags.get("search.role") != "parent"]
    assert len(trials) == 4
    first_search = [r for r in runs if r.info.start_time <= store.client.get_model_version(STUDY, "1").creation_timestamp]
    for run in runs:
        inputs = run.inputs.dataset_inputs
        contexts = sorted(t.value for i in inputs for t in i.tags if t.key == "mlflow.data.context")
        assert contexts == ["test", "training", "validation"], run.info.run_name
        train = next(i.dataset for i in inputs if i.dataset.name == "fashion_mnist-train")
        profile = json.loads(train.profile)
        assert sum(profile["class_counts"].values()) == profile["images"] == profile["features_shape"][0]
        assert len(profile["class_counts"]) == 10
    # seed 1's split is the first search's; seed 2 splits otherwise: the digests tell them apart
    assert {(i.dataset.name, i.dataset.digest) for i in first_search[0].inputs.dataset_inputs} == expected
    digests = {i.dataset.digest for r in runs for i in r.inputs.dataset_inputs if i.dataset.name.endswith("-train")}
    assert len(digests) == 2
    for run in trials:
        system = [k for k in run.data.metrics if k.startswith("system/")]
        assert "system/cpu_utilization_percentage" in system and "system/system_memory_usage_megabytes" in system, system


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_served_champion_answers_with_its_class_probabilities(store: Store) -> None:
    import mlflow

    port = _free_port()
    # the server runs uvicorn from the environment's bin folder, as in an activated venv
    path = f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.tracking_uri, "PATH": path}
    mlflow_cli = [PYTHON, "-m", "mlflow", "models", "serve", "-m", f"models:/{STUDY}@{CHAMPION_ALIAS}"]
    server = subprocess.Popen(
        [*mlflow_cli, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        cwd=store.folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the model server did not start"
            time.sleep(1)
        images = load_dataset("fashion_mnist", limit=LIMIT, seed=1).x_test[:5]
        body = json.dumps({"inputs": images.tolist()}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            served = np.asarray(json.load(reply)["predictions"])
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)  # its own session: uvicorn and its worker
        server.wait(timeout=30)
    mlflow.set_tracking_uri(store.tracking_uri)
    try:
        model = mlflow.keras.load_model(f"models:/{STUDY}@{CHAMPION_ALIAS}")
    finally:
        mlflow.set_tracking_uri(None)
    own = np.asarray(model.predict(images, verbose=0))
    assert served.shape == (5, 10)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(served, own, atol=1e-5)


def test_predict_takes_the_registered_champion(store: Store, tmp_path: Path) -> None:
    from PIL import Image

    image = load_dataset("fashion_mnist", limit=LIMIT, seed=1).x_test[0, :, :, 0]
    path = tmp_path / "item.png"
    Image.fromarray((image * 255).astype(np.uint8)).save(path)
    args = [PYTHON, "-m", "search.predict", "--model", f"models:/{STUDY}@{CHAMPION_ALIAS}",
            "--tracking-uri", store.tracking_uri, "--invert", "never", "--top", "2", str(path)]  # fmt: skip
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    champion = store.client.get_model_version_by_alias(STUDY, CHAMPION_ALIAS)
    assert f"model {STUDY} version {champion.version}" in done.stdout
    line = next(l for l in done.stdout.splitlines() if l.startswith(str(path)))
    names = load_dataset("fashion_mnist", limit=LIMIT).class_names
    assert any(name in line for name in names)
    bad = subprocess.run(
        [*args[:4], f"models:/{STUDY}@nobody", *args[5:]], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nobody" in bad.stderr
