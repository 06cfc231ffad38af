"""Precision from the hardware: bfloat16 detection on ``/proc/cpuinfo`` flags, the policy each
``--precision`` gives on each kind of machine, float32 outputs under a mixed policy, and a model
trained in mixed_bfloat16 that another process loads and runs in float32."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest

from search.data import load_dataset
from search.training import (
    PrecisionError,
    choose_policy,
    configure_precision,
    cpu_flags,
    device_description,
    fit_candidate,
    float32_copy,
    native_bfloat16,
    precision_policy,
)
from spaces import BuildFnSpace, TrialParams, get_space

#: ``/proc/cpuinfo`` as it begins on real machines (flags shortened to the interesting ones)
ZEN2 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse2 avx fma avx2 bmi2\n"
ZEN4 = "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: avx2 avx512f avx512_bf16 avx512_vnni\n"
COOPER_LAKE = "flags\t\t: avx2 avx512f avx512bw avx512_vnni avx512_bf16\n"
SAPPHIRE_RAPIDS = "flags\t\t: avx2 avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8\n"
AMX_ONLY = "flags\t\t: avx2 amx_tile amx_bf16\n"
SKYLAKE = "flags\t\t: avx2 avx512f avx512bw avx512vl avx512_vnni\n"  # AVX-512 without its bf16 part
GRAVITON = "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd bf16 i8mm sve\n"  # aarch64: no "flags"


@pytest.mark.parametrize(
    ("cpuinfo", "native"),
    [(ZEN2, False), (ZEN4, True), (COOPER_LAKE, True), (SAPPHIRE_RAPIDS, True), (AMX_ONLY, True),
     (SKYLAKE, False), (GRAVITON, False), ("", False)],
    ids=["zen2", "zen4", "cooper-lake", "sapphire-rapids", "amx-only", "skylake-avx512", "aarch64", "empty"],
)  # fmt: skip
def test_native_bfloat16_is_read_from_the_cpu_flags(cpuinfo: str, native: bool) -> None:
    assert native_bfloat16(cpu_flags(cpuinfo)) is native


def test_the_first_flags_line_is_read_whole() -> None:
    assert cpu_flags(ZEN2 + "\nprocessor\t: 1\nflags\t\t: other\n") == {"fpu", "sse2", "avx", "fma", "avx2", "bmi2"}


SLOWER = "slower than in float32"


@pytest.mark.parametrize(
    ("precision", "gpu", "bf16", "mixed", "policy", "warning"),
    [
        ("auto", False, False, False, "float32", None),  # this machine: AVX2, no bfloat16
        ("auto", False, True, False, "mixed_bfloat16", None),  # AMX or AVX512-BF16
        ("auto", True, False, False, "float32", None),  # a GPU: float16 only when asked
        ("auto", True, False, True, "mixed_float16", None),  # --mixed-precision on a GPU
        ("float16", True, False, False, "mixed_float16", None),
        ("float16", True, False, True, "mixed_float16", None),
        ("bfloat16", True, False, False, "mixed_bfloat16", None),
        ("float32", True, False, False, "float32", None),
        ("float32", False, True, False, "float32", None),
        ("bfloat16", False, True, False, "mixed_bfloat16", None),
        ("bfloat16", False, False, False, "mixed_bfloat16", SLOWER),  # allowed, with the reason it is slow
        ("auto", False, False, True, "float32", "--mixed-precision needs a GPU: training in float32 on the CPU"),
        ("auto", False, True, True, "mixed_bfloat16", "--mixed-precision needs a GPU: training in mixed_bfloat16"),
    ],
)
def test_the_policy_of_each_precision_on_each_machine(
    precision: str, gpu: bool, bf16: bool, mixed: bool, policy: str, warning: str | None
) -> None:
    chosen, said = choose_policy(precision, gpu=gpu, cpu_bf16=bf16, mixed_precision=mixed)
    assert chosen == policy
    if warning is None:
        assert said is None
    else:
        assert said is not None and warning in said


@pytest.mark.parametrize(
    ("precision", "mixed", "message"),
    [
        ("float16", False, "--precision float16 needs a GPU"),
        ("float16", True, "--precision float16 needs a GPU"),
        ("bfloat16", True, "not both"),
        ("fp8", False, "unknown precision 'fp8'"),
    ],
)
def test_what_a_cpu_refuses(precision: str, mixed: bool, message: str) -> None:
    with pytest.raises(PrecisionError, match=message):
        choose_policy(precision, gpu=False, cpu_bf16=True, mixed_precision=mixed)


@pytest.fixture
def policy() -> Iterator[None]:
    """Every test leaves the process's policy as it found it (float32)."""
    yield
    configure_precision("float32")


def test_configure_precision_sets_the_global_policy_and_the_description(policy: None) -> None:
    assert configure_precision("bfloat16") == "mixed_bfloat16"  # explicit: any CPU trains in it
    assert precision_policy() == "mixed_bfloat16" and device_description().endswith(", mixed_bfloat16")
    assert configure_precision("float32") == "float32"  # a second search in the process resets it
    assert keras.mixed_precision.global_policy().name == "float32"
    assert device_description().endswith(", float32")


def test_bfloat16_without_native_support_warns_once(policy: None, caplog: pytest.LogCaptureFixture) -> None:
    from search.training import _devices

    if _devices._cpu_has_native_bfloat16():
        pytest.skip("this CPU computes bfloat16 natively: nothing to warn about")
    _devices._warned.clear()
    with caplog.at_level(logging.WARNING, logger="search"):
        configure_precision("bfloat16")
        configure_precision("bfloat16")
        configure_precision("bfloat16", warn=False)
    assert [r.getMessage() for r in caplog.records].count(next(iter(_devices._warned))) == 1
    assert "avx512_bf16" in caplog.text and SLOWER in caplog.text


def _user_build(hp: object) -> keras.Model:
    """A user's model whose softmax is its own layer, with no dtype given: the global policy's."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10),
        keras.layers.Activation("softmax"),
    ])  # fmt: skip


@pytest.mark.parametrize("family", ["lenet", "cnn", "user"])
def test_outputs_are_float32_under_mixed_bfloat16(policy: None, family: str) -> None:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    if family == "user":
        space = BuildFnSpace(_user_build, epochs=1)
        study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), sampler=optuna.samplers.RandomSampler(0))
        candidate = space.sample(TrialParams(study.ask()))
    else:
        space = get_space(family)
        candidate = space.from_params(next(iter(space.presets.values())).params)
    model = space.build_model(candidate, (28, 28, 1), 10)
    hidden = next(layer for layer in model.layers if layer.weights)
    assert hidden.dtype_policy.name == "mixed_bfloat16"  # the body computes in bfloat16 ...
    assert hidden.kernel.dtype == "float32"  # ... on float32 weights
    output = model(np.zeros((2, 28, 28, 1), np.float32), training=False)
    assert keras.backend.standardize_dtype(output.dtype) == "float32"  # the head, and so the loss, in float32


class _TrainedIn(keras.callbacks.Callback):
    """The dtype policies of the layers of the model being trained."""

    def on_train_begin(self, logs: object = None) -> None:
        self.policies = {layer.dtype_policy.name for layer in self.model.layers if layer.weights}


def test_every_model_is_built_in_the_configured_policy_after_clear_session(policy: None) -> None:
    from search.training import prepare_model

    configure_precision("bfloat16", warn=False)
    space = get_space("lenet")
    candidate = space.from_params(next(iter(space.presets.values())).params)
    data = load_dataset("fashion_mnist", limit=300, seed=0)
    for _ in range(2):  # each trial's clear_session resets Keras' global state, its policy too
        model = prepare_model(space, candidate, data)
        assert model.get_layer("conv2d").dtype_policy.name == "mixed_bfloat16"
    assert device_description().endswith(", mixed_bfloat16")


def test_a_model_trained_in_bfloat16_loads_and_predicts_in_float32(
    policy: None, tmp_path: Path, keras_home: Path
) -> None:
    configure_precision("bfloat16", warn=False)
    space, data = get_space("lenet"), load_dataset("fashion_mnist", limit=1500, seed=0)
    candidate = space.from_params(next(iter(space.presets.values())).params)
    trained = _TrainedIn()
    result = fit_candidate(space, candidate, data, max_epochs=2, callbacks=[trained])
    assert trained.policies == {"mixed_bfloat16", "float32"}  # the body in bfloat16, the head in float32
    assert result.epochs_run == 2 and np.isfinite(result.history["loss"]).all()
    assert result.val_accuracy > 0.4  # it learnt (chance: 0.1)
    model = result.model  # kept, evaluated and saved as a float32 copy with the trained weights
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert model.compiled
    expected = np.asarray(model.predict(data.x_test, verbose=0))
    path = tmp_path / "trained-in-bfloat16.keras"
    model.save(path)
    keras.mixed_precision.set_global_policy("float32")
    script = (
        "import sys, keras, numpy as np\n"
        "m = keras.models.load_model(sys.argv[1])\n"
        "print(sorted({l.dtype_policy.name for l in m.layers}))\n"
        "np.save(sys.argv[2], m.predict(np.load(sys.argv[3]), verbose=0))\n"
    )
    np.save(tmp_path / "x.npy", data.x_test)
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), str(tmp_path / "p.npy"), str(tmp_path / "x.npy")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "['float32']"  # a fresh process: all float32
    predicted = np.load(tmp_path / "p.npy")
    assert predicted.dtype == np.float32
    np.testing.assert_allclose(predicted, expected, atol=1e-5)


def test_the_float32_copy_of_a_float32_model_is_the_model(policy: None) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    assert float32_copy(model) is model


def test_the_float32_copy_keeps_the_predictions_up_to_bfloat16(policy: None) -> None:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = keras.Sequential([
        keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3, activation="softmax", dtype="float32")
    ])  # fmt: skip
    x = np.random.default_rng(0).random((32, 8), dtype=np.float32)
    copy = float32_copy(model)
    assert copy is not model and keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=0.02)


def test_a_checkpoint_resumes_in_bfloat16_and_ends_in_float32(policy: None, tmp_path: Path, keras_home: Path) -> None:
    from search.training import Checkpoints, prepare_model

    configure_precision("bfloat16", warn=False)
    space, data = get_space("lenet"), load_dataset("fashion_mnist", limit=600, seed=0)
    candidate = space.from_params(next(iter(space.presets.values())).params)
    model = prepare_model(space, candidate, data)
    checkpoints = Checkpoints(tmp_path)
    model.fit(data.x_train[:64], keras.utils.to_categorical(data.y_train[:64], 10), epochs=1, verbose=0)
    checkpoints.save(0, model, 1, {"loss": [1.0]})
    (saved,) = tmp_path.glob("0.e1.keras")
    restored = keras.models.load_model(saved)
    assert restored.layers[1].dtype_policy.name == "mixed_bfloat16"  # resumed in the trial's precision
    trained = _TrainedIn()
    result = fit_candidate(space, candidate, data, max_epochs=2, initial_epoch=1, model=restored, callbacks=[trained])
    assert "mixed_bfloat16" in trained.policies
    assert result.epochs_run == 1 and np.isfinite(result.history["loss"]).all()
    assert {layer.dtype_policy.name for layer in result.model.layers} == {"float32"}
