"""The final model of a search as an MLflow model: logged with MLflow's Keras flavour on the
parent run, registered under the study's name, the alias ``champion`` on the best version.

Each search that evaluates a final model (the best trial's, its refit or the ensemble) adds a
version to the registered model named after the study, tagged with the study, its trial(s), the
validation and the test accuracy. The alias :data:`CHAMPION_ALIAS` moves to the new version when
its validation accuracy is at least the current champion's, so ``models:/STUDY@champion`` is always
the best model so far; ``mlflow models serve -m models:/STUDY@champion --env-manager local`` serves
it. The logged model is inference-only (no compile state, its nested models' neither: the
searched loss may be this platform's KL divergence with label smoothing) and built from Keras' own
layers, so it loads in a process that has not (or cannot) import this platform.

To train it further, its MLflow metadata says how it was trained: ``params``, the trial's
hyperparameters (an ensemble's best member's), and ``compile``, Keras serializations of its
optimizer and of a Keras loss that trains like the searched one (None for an ensemble)::

    info = mlflow.models.get_model_info("models:/STUDY@champion")
    recipe = info.metadata["compile"]
    model.compile(optimizer=keras.optimizers.deserialize(recipe["optimizer"]),
                  loss=keras.losses.deserialize(recipe["loss"]), metrics=["accuracy"])
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from search.data import Dataset
from search.final import SearchSummary, TestEvaluation

__all__ = [
    "CHAMPION_ALIAS",
    "EXAMPLE_IMAGES",
    "MODEL_NAME",
    "RegisteredModel",
    "load_registered_model",
    "log_final_model",
]

_log = logging.getLogger(__name__)

#: the alias of the registered model's best version so far (by validation accuracy)
CHAMPION_ALIAS = "champion"
#: the name of the final model among the parent run's logged models
MODEL_NAME = "final-model"
#: test images in the model's input example
EXAMPLE_IMAGES = 2
#: version tag with the final model's validation accuracy: the champion is chosen by it
VAL_ACCURACY_TAG = "validation_accuracy"


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model read back: the Keras model and what its version says of it."""

    model: Any  # keras.Model
    name: str
    version: str
    tags: dict[str, str]
    class_names: list[str]


def _inference_copy(model: Any) -> Any:
    """``model`` rebuilt from its config without any compile state, its nested models' included,
    with the same weights: a served model needs no loss, optimizer or metrics, and theirs may be
    classes of this platform (the searched KL divergence with label smoothing) or of the user's
    code, which a process that loads the model lacks. (``keras.models.clone_model`` compiles the
    clone like the original, and ``load_model(compile=False)`` compiles nested models anyway.)

    A model that cannot be rebuilt from its config (a subclassed model without ``get_config``) is
    logged as it is, with a warning: it loads only where its classes can be imported.
    """
    import keras

    try:
        config = _without_compile(keras.saving.serialize_keras_object(model))
        copy = keras.saving.deserialize_keras_object(config)
        copy.set_weights(model.get_weights())
    except Exception as exc:  # noqa: BLE001 - any failure of the user's classes to round-trip
        _log.warning("the final model is logged as it is (%s: %s); it loads only where its classes can be imported",
                     type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")  # fmt: skip
        return model
    foreign = sorted(_foreign_classes(config))
    if foreign:
        _log.warning("the final model uses classes that are not Keras' own (%s); it loads only where they can be imported",
                     ", ".join(foreign))  # fmt: skip
    return copy


def _without_compile(config: Any) -> Any:
    """A serialized Keras object with every ``compile_config`` left out, at any depth."""
    if isinstance(config, dict):
        return {k: _without_compile(v) for k, v in config.items() if k != "compile_config"}
    if isinstance(config, list):
        return [_without_compile(v) for v in config]
    return config


def _foreign_classes(config: Any) -> set[str]:
    """The classes of a serialized Keras object that Keras itself does not provide."""
    found: set[str] = set()
    if isinstance(config, dict):
        module = config.get("module")
        if isinstance(module, str) and "class_name" in config and module.partition(".")[0] != "keras":
            found.add(f"{module}.{config['class_name']}")
        for value in config.values():
            found |= _foreign_classes(value)
    elif isinstance(config, list):
        for value in config:
            found |= _foreign_classes(value)
    return found


def _compile_recipe(model: Any) -> dict[str, Any] | None:
    """How to compile the logged (uncompiled) model again to train it further, with Keras' own
    objects: ``{"optimizer": ..., "loss": ..., "searched_loss": ...}``, each a Keras serialization
    (``keras.optimizers.deserialize``, ``keras.losses.deserialize``). The optimizer is as training
    left it (its learning rate the last one a schedule set; the searched one is in ``params``).
    A loss that is not Keras' own is replaced by the Keras loss it names as training the same
    (``keras_equivalent()``); ``searched_loss`` then keeps what the search trained with.
    None for a model that was not compiled (an ensemble: its members' params say how they were).
    """
    import keras

    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        return None
    serialize = keras.saving.serialize_keras_object
    loss = model.loss
    equivalent = getattr(loss, "keras_equivalent", None)
    portable = equivalent() if callable(equivalent) else loss
    recipe: dict[str, Any] = {"optimizer": serialize(model.optimizer), "loss": serialize(portable)}
    if portable is not loss:
        recipe["searched_loss"] = serialize(loss)
    return json.loads(json.dumps(recipe, default=str))  # plain JSON values for the MLmodel file


class _KerasFlavour:
    """MLflow's Keras flavour (``mlflow.keras.save_model``) for ``Model.log``, with its folder made
    first: MLflow 3's ``mlflow.keras.log_model`` writes the input example into the model's folder
    before it creates it (FileNotFoundError ``.../model/input_example.json``)."""

    @staticmethod
    def save_model(path: str, validate_serving_input: bool = True, **kwargs: Any) -> None:
        import mlflow.keras

        del validate_serving_input  # Model.log's option, passed on to every flavour
        os.makedirs(path, exist_ok=True)
        mlflow.keras.save_model(path=path, **kwargs)


def _pip_requirements() -> list[str]:
    """What the model needs to be served (MLflow adds itself): Keras, its backend and NumPy, at
    this process's versions. MLflow would infer the same by loading the model in a fresh
    interpreter, which takes half a minute of a loaded machine for every search."""
    from importlib import metadata

    import keras

    backend = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(keras.backend.backend())
    requirements = []
    for package in ("keras", backend, "numpy"):
        if package is None:
            continue
        try:
            requirements.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            requirements.append(package)
    return requirements


def _validation_accuracy(summary: SearchSummary, evaluation: TestEvaluation) -> float:
    """The final model's validation accuracy: the ensemble's, else its best trial's (a refit has
    seen the validation images: its trial's accuracy stands for it)."""
    if evaluation.ensemble is not None:
        return float(evaluation.ensemble.val_accuracy)
    trial = next((t for t in summary.best if t.number == evaluation.trial_number), None)
    return float(trial.values[0]) if trial is not None and trial.values else float("nan")


def _trial_params(summary: SearchSummary, number: int) -> dict[str, Any]:
    """The hyperparameters of trial ``number`` (an ensemble's: of its best member)."""
    trial = next((t for t in summary.best if t.number == number), None)
    return json.loads(json.dumps(dict(trial.params), default=str)) if trial is not None else {}


def _describe(evaluation: TestEvaluation) -> tuple[str, str]:
    """(kind, trials) of the final model: ``("ensemble", "3,1,7")``, ``("refit", "3")``, ..."""
    if evaluation.ensemble is not None:
        return "ensemble", ",".join(map(str, evaluation.ensemble.members))
    return ("refit" if evaluation.refit is not None else "trial"), str(evaluation.trial_number)


def log_final_model(
    client: MlflowClient,
    tracking_uri: str,
    run_id: str,
    study_name: str,
    summary: SearchSummary,
    evaluation: TestEvaluation,
    data: Dataset,
) -> ModelVersion | None:
    """Log the final model on the parent run ``run_id`` and register it under ``study_name``.

    Returns:
        The new model version (its alias set when it is the champion), or None without a model.
    """
    import keras
    import mlflow
    from mlflow.models import Model, infer_signature

    if evaluation.model is None:
        return None
    model = _inference_copy(evaluation.model)
    example = np.asarray(data.x_test[:EXAMPLE_IMAGES], dtype=np.float32)
    # one eager call: predict() would trace a function for these two images
    signature = infer_signature(example, keras.ops.convert_to_numpy(model(example, training=False)))
    kind, trials = _describe(evaluation)
    val_accuracy = _validation_accuracy(summary, evaluation)
    tags = {
        "study": study_name,
        "final_model": kind,
        "trials": trials,
        "test_accuracy": f"{evaluation.accuracy:.6f}",
        VAL_ACCURACY_TAG: f"{val_accuracy:.6f}",
        "dataset": data.name,
    }
    metadata = {
        "class_names": list(data.class_names),
        "study": study_name,
        "final_model": kind,
        "trials": trials,
        "params": _trial_params(summary, evaluation.trial_number),
        "compile": _compile_recipe(evaluation.model),
    }
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    # the fluent API logs the model, and the registry looks the logged model up: both through
    # the global tracking URI (the registry follows it, unless the user set one)
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with mlflow.start_run(run_id=run_id):  # the logged model's experiment and run
            info = Model.log(  # what mlflow.keras.log_model does, with _KerasFlavour
                artifact_path=None,
                flavor=_KerasFlavour,
                flavor_name="mlflow.keras",  # as mlflow.keras.log_model names it
                model=model,
                name=MODEL_NAME,
                signature=signature,
                input_example=example,
                metadata=metadata,
                tags=tags,
                validate_serving_input=False,  # the tests serve it; this would print Keras' progress bar
                pip_requirements=_pip_requirements(),
            )
        # registered with the client, not log_model's registered_model_name, which prints to stderr
        try:
            client.create_registered_model(study_name, tags={"study": study_name})
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = str(
            client.create_model_version(
                study_name, f"models:/{info.model_id}", run_id=run_id, tags=tags, model_id=info.model_id
            ).version
        )
    finally:
        mlflow.set_tracking_uri(previous)
    champion = _champion_accuracy(client, study_name)
    if champion is None or not val_accuracy < champion:
        client.set_registered_model_alias(study_name, CHAMPION_ALIAS, version)
        _log.debug("model %s version %s is the %s", study_name, version, CHAMPION_ALIAS)
    return client.get_model_version(study_name, version)


def _champion_accuracy(client: MlflowClient, name: str) -> float | None:
    """The validation accuracy of the current champion (None: no champion, or it has no tag)."""
    try:
        current = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        return None
    try:
        return float(current.tags[VAL_ACCURACY_TAG])
    except (KeyError, ValueError):
        return None


def load_registered_model(uri: str, tracking_uri: str) -> RegisteredModel:
    """Load ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` from the registry at ``tracking_uri``.

    Raises:
        LookupError: no such registered model, version or alias (one line saying which).
    """
    import mlflow
    import mlflow.keras
    from mlflow.models import get_model_info

    name, _, ref = uri.removeprefix("models:/").partition("@")
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        if ref:
            version = client.get_model_version_by_alias(name, ref)
        else:
            name, _, number = name.partition("/")
            version = client.get_model_version(name, number)
    except MlflowException as exc:
        raise LookupError(f"no model {uri} in the MLflow registry at {tracking_uri}: {exc.message.splitlines()[0]}") from None
    previous = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(tracking_uri)  # the registry follows it, unless the user set one
    try:
        source = f"models:/{name}/{version.version}"
        model = mlflow.keras.load_model(source)
        metadata = get_model_info(source).metadata or {}
    finally:
        mlflow.set_tracking_uri(previous)
    names = metadata.get("class_names") or []
    if isinstance(names, str):
        names = json.loads(names)
    return RegisteredModel(model, name, str(version.version), dict(version.tags), [str(n) for n in names])
