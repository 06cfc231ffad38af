"""End to end: ``python -m search.run`` on a small subset of the real Fashion-MNIST."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search import run

SMALL = ["--limit", "300", "--max-epochs", "2", "--seed", "1", "--no-mlflow"]


def _args(tmp_path: Path, *extra: str, family: str = "cnn") -> list[str]:
    return [
        "--study", family,
        "--storage", f"sqlite:///{tmp_path}/optuna.db",
        "--artifacts", str(tmp_path / "artifacts"),
        *SMALL,
        *extra,
    ]  # fmt: skip


def _study(tmp_path: Path, name: str = "cnn-fashion_mnist") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/optuna.db")


@pytest.fixture(scope="module")
def searched(keras_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One small 3-trial search, shared by the tests that only read its results."""
    folder = tmp_path_factory.mktemp("searched")
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):
        assert run.main(_args(folder, "--n-trials", "3", "--pruner", "none")) == 0
    return folder, capture.getvalue()


def test_search_stores_trials_and_summarises(searched: tuple[Path, str]) -> None:
    folder, out = searched
    study = _study(folder)
    trials = study.get_trials()
    assert len(trials) == 3
    assert out.count("trial ") >= 3
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert complete, out
    for t in complete:
        attrs = t.user_attrs
        assert 0.0 <= t.value <= 1.0
        assert attrs["val_accuracy"] == pytest.approx(t.value)
        assert 1 <= attrs["epochs_run"] <= 2
        assert attrs["param_count"] > 0 and attrs["training_seconds"] > 0
        assert attrs["seconds_per_epoch"] > 0 and attrs["device"].startswith(("CPU", "GPU"))
    evaluation = study.user_attrs["test_evaluation"]
    assert evaluation["trial"] == study.best_trial.number
    assert 0.0 <= evaluation["accuracy"] <= 1.0
    assert "test accuracy of the best configuration" in out
    assert f"best trial {study.best_trial.number}" in out
    assert "3 complete, 0 pruned, 0 failed (3 this run" in out or "failed (3 this run" in out


def test_the_default_sampler_draws_around_the_presets(searched: tuple[Path, str]) -> None:
    """With no --sampler, the search is the prior sampler's: every trial records how it was drawn,
    and before any evidence the local draws are centred on one of the cnn presets."""
    from search.samplers import CENTRE_KEY, MODE_KEY
    from spaces import get_space

    trials = _study(searched[0]).get_trials()
    modes = [t.system_attrs.get(MODE_KEY) for t in trials]
    assert all(m in ("prior", "global") for m in modes), modes
    presets = len(get_space("cnn").presets)
    for t in trials:
        if t.system_attrs.get(MODE_KEY) == "prior":
            assert 0 <= t.system_attrs[CENTRE_KEY] < presets


def test_same_command_resumes_the_study(searched: tuple[Path, str], tmp_path: Path) -> None:
    shutil.copytree(searched[0], tmp_path, dirs_exist_ok=True)
    assert run.main(_args(tmp_path, "--n-trials", "1", "--pruner", "none")) == 0
    study = _study(tmp_path)
    assert len(study.trials) == 4
    assert [t.number for t in study.trials] == [0, 1, 2, 3]


def test_presets_run_first_and_a_point_that_cannot_be_built_is_pruned_at_once(
    keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spaces import get_space

    space = get_space("cnn")
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="cnn-fashion_mnist", storage=storage, direction="maximize")
    study.set_user_attr("family", "cnn")
    study.set_user_attr("dataset", "fashion_mnist")
    # A valid point of the space that cannot be built: 5x5 valid convolutions shrink 28x28 to nothing.
    bad = dict(space.presets["doc002_basic_cnn"].params)
    bad.update({"n_blocks": 5, "convs_per_block": 3, "kernel_size": 5})
    for i in range(3, 5):
        bad.update({f"filters_{i}": 8, f"pool_{i}": False, f"dropout_{i}": 0.0})
    study.enqueue_trial(bad)

    code = run.main(_args(tmp_path, "--n-trials", "3", "--enqueue-presets", "--pruner", "none"))
    assert code == 0
    trials = _study(tmp_path).get_trials()
    waiting = [t.user_attrs.get("preset") for t in trials if t.state == TrialState.WAITING]
    assert waiting == ["doc001_cnn_tanh"]  # the costliest to train, queued for the next invocation
    trials = [t for t in trials if t.state.is_finished()]
    # pruned, not failed: TPE ignores failed trials but ranks a pruned one with no epoch below all
    assert trials[0].state == TrialState.PRUNED and not trials[0].intermediate_values
    reason = trials[0].user_attrs["pruned_reason"]
    assert reason.startswith("cannot be built: feature map") and "smaller than the 5x5 kernel" in reason
    presets = [t.user_attrs.get("preset") for t in trials[1:]]
    assert presets == ["doc002_basic_cnn", "doc003_cnn_dropout07"]  # cheapest first
    assert all(t.state == TrialState.COMPLETE for t in trials[1:])
    out = capsys.readouterr().out
    assert f"trial   0  pruned: {reason}" in out and "[doc002_basic_cnn]" in out
    assert "enqueued presets: doc002_basic_cnn, doc003_cnn_dropout07, doc001_cnn_tanh" in out


def test_aggressive_pruner_prunes(keras_home: Path, tmp_path: Path) -> None:
    from spaces import get_space

    # One model that learns (Adam), then four with a hopeless learning rate. Successive halving
    # promotes a trial past a rung only when it is at least as good as the best there (fewer than
    # reduction-factor competitors), so each hopeless one must be stopped before its last epoch.
    base = dict(get_space("cnn").presets["doc002_basic_cnn"].params)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="cnn-fashion_mnist", storage=storage, direction="maximize")
    study.enqueue_trial({**base, "learning_rate": 1e-3, "optimizer": "adam"})
    for lr in (1e-5, 1.5e-5, 1e-5, 2e-5):
        study.enqueue_trial({**base, "learning_rate": lr, "optimizer": "sgd", "momentum": 0.0})
    args = _args(tmp_path, "--n-trials", "5", "--pruner", "successive-halving", "--max-epochs", "3")
    assert run.main(args) == 0
    trials = _study(tmp_path).get_trials()
    states = [(t.state, t.intermediate_values) for t in trials]
    assert trials[0].state == TrialState.COMPLETE, states
    assert [t.state for t in trials[1:]] == [TrialState.PRUNED] * 4, states
    for t in trials[1:]:
        assert t.user_attrs["pruned_epoch"] == len(t.intermediate_values)
        assert t.user_attrs["pruned_epoch"] < 3


def test_a_trial_is_not_pruned_after_its_last_epoch(keras_home: Path, tmp_path: Path) -> None:
    from spaces import get_space

    # With 2 epochs, successive halving's first rung is the last epoch: the hopeless trial would be
    # pruned there (as in the test above) although its training is finished.
    base = dict(get_space("cnn").presets["doc002_basic_cnn"].params)
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="cnn-fashion_mnist", storage=storage, direction="maximize")
    study.enqueue_trial({**base, "learning_rate": 1e-3, "optimizer": "adam"})
    study.enqueue_trial({**base, "learning_rate": 1e-5, "optimizer": "sgd", "momentum": 0.0})
    args = _args(tmp_path, "--n-trials", "2", "--pruner", "successive-halving", "--max-epochs", "2")
    assert run.main(args) == 0
    trials = _study(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, [(t.state, t.intermediate_values) for t in trials]
    assert trials[1].value < trials[0].value
    assert sorted(trials[1].intermediate_values) == [0, 1]  # both epochs still reported


# Bad input of every kind: tests/search/test_bad_inputs.py (one table for every command).


def test_missing_data_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "nodata.npz"
    with pytest.raises(SystemExit) as exited:
        run.main(_args(tmp_path, "--dataset", str(empty), "--n-trials", "1"))
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nodata.npz" in err[0]
    assert not (tmp_path / "optuna.db").exists()


def test_show_space_lists_knobs_and_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--study", "cnn", "--show-space"]) == 0
    out = capsys.readouterr().out
    for knob in ("learning_rate", "optimizer", "filters_0", "dropout_0", "lr_schedule", "hflip"):
        assert knob in out
    assert "doc001_cnn_tanh" in out and "306,906 params" in out


def test_trial_over_its_time_budget_is_pruned(
    keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from spaces import get_space

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="cnn-fashion_mnist", storage=storage, direction="maximize")
    study.enqueue_trial(dict(get_space("cnn").presets["doc001_cnn_tanh"].params))
    args = _args(tmp_path, "--n-trials", "1", "--trial-timeout", "0.5", "--pruner", "none")
    assert run.main(args) == 0
    (trial,) = _study(tmp_path).get_trials()
    assert trial.state == TrialState.PRUNED
    assert "time budget" in trial.user_attrs["pruned_reason"]
    assert trial.user_attrs["pruned_epoch"] == 0
    assert "pruned at epoch 0 (time budget)" in capsys.readouterr().out


def test_accuracy_and_time_make_a_pareto_front(
    keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(tmp_path, "--n-trials", "3", "--objectives", "accuracy,time", "--max-epochs", "4", family="lenet")
    assert run.main(args) == 0
    study = _study(tmp_path, "lenet-fashion_mnist")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = study.get_trials(states=[TrialState.COMPLETE])
    assert len(trials) == 3
    for t in trials:  # the values are the measured accuracy and training time
        assert t.values == [pytest.approx(t.user_attrs["val_accuracy"]), pytest.approx(t.user_attrs["training_seconds"])]
        assert not t.intermediate_values  # Optuna cannot prune several objectives: early stopping instead
    front = {t.number for t in study.best_trials}
    for t in trials:  # nobody on the front is beaten on both objectives
        dominated = any(o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in trials)
        assert dominated == (t.number not in front)
    out = capsys.readouterr().out
    assert f"Pareto front (accuracy, time): {len(front)} trials" in out
    most_accurate = max(study.best_trials, key=lambda t: t.values[0]).number
    assert study.user_attrs["test_evaluation"]["trial"] == most_accurate
    assert f"(trial {most_accurate}):" in out


def test_jit_and_mixed_precision_options(keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _args(tmp_path, "--n-trials", "1", "--jit", "--mixed-precision", "--pruner", "none", "--no-test", family="lenet")
    assert run.main(args) == 0
    (trial,) = _study(tmp_path, "lenet-fashion_mnist").get_trials()
    assert trial.state == TrialState.COMPLETE  # the XLA-compiled model trained
    from search.training._devices import _cpu_has_native_bfloat16

    # on the CPU, --mixed-precision falls back to what auto gives: bfloat16 where the CPU has it
    policy = "mixed_bfloat16" if _cpu_has_native_bfloat16() else "float32"
    assert f"--mixed-precision needs a GPU: training in {policy} on the CPU" in capsys.readouterr().out
    import keras

    assert keras.mixed_precision.global_policy().name == policy


def test_the_same_seed_trains_the_same_models(keras_home: Path, tmp_path: Path) -> None:
    values = []
    for folder in (tmp_path / "a", tmp_path / "b"):
        folder.mkdir()
        args = _args(folder, "--n-trials", "2", "--pruner", "none", family="lenet")
        with contextlib.redirect_stdout(io.StringIO()):
            assert run.main(args) == 0
        trials = _study(folder, "lenet-fashion_mnist").get_trials()
        values.append([(t.params, t.user_attrs["history"]) for t in trials])
    assert values[0] == values[1]  # sampled points, and every epoch's losses and accuracies


def test_a_search_in_bfloat16_refits_ensembles_and_keeps_float32_models(
    keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--precision bfloat16 (emulated on a CPU without it, so slower, but it must work): trials
    checkpoint and complete, the refit and the ensemble are built, the final model is float32."""
    import keras
    from optuna.artifacts import FileSystemArtifactStore

    from search.final import average_model
    from search.trials import load_model_artifact

    args = _args(tmp_path, "--n-trials", "2", "--pruner", "none", "--precision", "bfloat16", "--refit", "--ensemble", "2",
                 "--cv", "off", family="lenet")  # fmt: skip
    try:
        assert run.main(args) == 0
    finally:
        keras.mixed_precision.set_global_policy("float32")
    out = capsys.readouterr().out
    assert ", mixed_bfloat16, sampler" in out  # the start-up line says what trains
    study = _study(tmp_path, "lenet-fashion_mnist")
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert all(t.user_attrs["device"].endswith(", mixed_bfloat16") for t in trials)
    assert "ensemble: choosing up to 2 picks among the models of trials 0, 1" in out  # both kept models loaded
    assert 0.0 < study.user_attrs["test_evaluation"]["accuracy"] <= 1.0
    store = FileSystemArtifactStore(str(tmp_path / "artifacts"))
    final = study.user_attrs["final_model"]  # the refit (or the ensemble, when one improves on it)
    kept = [load_model_artifact(store, final["artifact_id"])]
    kept += [load_model_artifact(store, t.user_attrs["model_artifact_id"]) for t in trials]
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # an ensemble built while training in bfloat16
    try:
        kept.append(average_model(kept[1:], [0.5, 0.5], (28, 28, 1)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for model in kept:
        policies = {layer.dtype_policy.name for layer in model._flatten_layers(include_self=False)}
        assert policies == {"float32"}, (model.name, policies)
