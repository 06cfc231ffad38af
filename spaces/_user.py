"""A user's ``build(hp)`` function or keras-tuner ``HyperModel`` as a :class:`~spaces.SearchSpace`.

:class:`BuildFnSpace` wraps a keras-tuner build function so it goes through the same search flow
as the built-in families (it is a :class:`~spaces.SearchSpace` that builds whole models, not a
layer-by-layer :class:`~spaces.Space`) (``space.sample(TrialParams(trial))``, ``space.build_model``,
``space.compile``, ``space.from_params``, ``space.describe``):

* **sampling**: :meth:`BuildFnSpace.sample` runs ``build(hp)`` with a keras-tuner-compatible
  :class:`~spaces.HyperParameters` over the source, so the trial's parameters are exactly the
  ``hp`` calls that build made (define-by-run); the candidate's architecture is those values.
* **building**: :meth:`BuildFnSpace.build_model` runs ``build`` again with those values (from
  any process, with no trial: the values are a plain dict), builds a ``Sequential`` that has no
  ``Input`` on the data's image shape, and checks the model takes the images and outputs one
  probability per class.
* **training**: if ``build`` compiles the model, its optimizer, loss and metrics are kept (a sparse
  loss or metric is swapped for its one-hot twin: the platform feeds one-hot labels; an
  ``accuracy`` metric is added when missing, as the search monitors ``val_accuracy``); the
  batch size and the epochs are the space's (``batch_size=``, ``epochs=``). If not, the
  platform's training knobs (optimizer, learning rate, loss, schedule, batch size, epochs) are
  sampled as for the families, without the knobs that would change the user's model
  (augmentation, weight decay).

A failure of ``build`` for one point (it raises, returns no model, or its output does not fit the
data) is raised by :meth:`~BuildFnSpace.build_model` as :class:`~spaces.UserBuildError` naming the
user's file and line, so the trial fails with that reason; :class:`~spaces.UnbuildableError`
raised by ``build`` itself prunes the trial, as for the families. ``HyperModel.fit`` is not used:
the platform trains the model.

A space :func:`spaces.get_space` loaded pickles as its spec (:class:`~spaces.SearchSpace`): its
build function, defined in a user's file imported under the loader's module name, is found again
by loading the file in the process that unpickles it.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from spaces._base import Candidate, Preset, SearchSpace, UnbuildableError, _set_remapper_for
from spaces._errors import UserBuildError, display_path, one_line, user_location
from spaces._hp import HyperParameters
from spaces._params import FixedParams, InvalidParamsError, ParamSource
from spaces._train import TrainConfig, TrainRanges, sample_train

__all__ = ["PLATFORM_TRAIN_KNOBS", "BuildFnSpace", "UserArch", "is_hypermodel"]

_log = logging.getLogger("spaces")

#: the parameters :func:`~spaces._train.sample_train` asks for a model that ``build`` does not
#: compile (without the knobs that change the model): a build must not declare these names itself
PLATFORM_TRAIN_KNOBS = (
    "optimizer", "label_smoothing_on", "epochs", "batch_size", "learning_rate", "momentum",
    "loss", "label_smoothing", "lr_schedule",
)  # fmt: skip

#: build-function names that say nothing of the model: such a space is named after its module
GENERIC_BUILD_NAMES = frozenset({"build", "build_model", "build_fn", "model_builder", "make_model"})

_SPARSE_LOSSES = {"sparse_categorical_crossentropy": "categorical_crossentropy"}
_SPARSE_METRICS = {"sparse_categorical_accuracy": "accuracy", "sparse_top_k_categorical_accuracy": "top_k_categorical_accuracy"}  # fmt: skip


@dataclass(frozen=True)
class UserArch:
    """A point of a user's build function: the values its ``hp`` calls got, and whether it compiled.

    Attributes:
        values: ``(name, value)`` in the order ``build`` asked for them.
        compiled: ``build`` compiled the model (its optimizer, loss and metrics are kept).
        error: why ``build`` failed for this point; :meth:`BuildFnSpace.build_model` raises it.
    """

    values: tuple[tuple[str, Any], ...]
    compiled: bool
    error: Exception | None = field(default=None, compare=False, repr=False)

    @property
    def params(self) -> dict[str, Any]:
        """The values as a dict."""
        return dict(self.values)


def is_hypermodel(obj: Any) -> bool:
    """Whether ``obj`` is a keras-tuner ``HyperModel`` instance (without importing keras-tuner)."""
    kt = sys.modules.get("keras_tuner")
    return kt is not None and isinstance(obj, kt.HyperModel)


class BuildFnSpace(SearchSpace[UserArch]):
    """A keras-tuner ``build(hp)`` function or ``HyperModel`` as a search space.

    Args:
        build: ``build(hp) -> keras.Model``, or a ``keras_tuner.HyperModel`` instance.
        name: the space's name (the study is named after it); by default the build function's
            name, or its module's file name when the function is called ``build`` or
            ``build_model`` (a ``HyperModel``'s own ``name`` first).
        presets: known-good points by name: parameter dicts (training knobs included when
            ``build`` does not compile) or :class:`~spaces.Preset` objects. None by default.
        summary: one line for ``--show-space``.
        epochs: for a model ``build`` compiles, the epochs to train; None: the most the platform
            trains (``train_ranges.epochs[1]``), so ``--max-epochs`` decides, as ``epochs=`` of
            keras-tuner's ``search``.
        batch_size: for a model ``build`` compiles, the batch size (Keras' default 32, as
            keras-tuner trains); None searches it over ``train_ranges.batch_size``.
        train_ranges: the ranges of the platform's training knobs.
        default_dataset: the data set a search uses when none is given.
    """

    def __init__(
        self,
        build: Callable[[Any], Any] | Any,
        *,
        name: str | None = None,
        presets: Mapping[str, Preset | Mapping[str, Any]] | None = None,
        summary: str | None = None,
        epochs: int | None = None,
        batch_size: int | None = 32,
        train_ranges: TrainRanges | None = None,
        default_dataset: str = "fashion_mnist",
    ) -> None:
        self.train_ranges = train_ranges or TrainRanges()
        self.hypermodel = build if is_hypermodel(build) else None
        if self.hypermodel is None and not callable(build):
            raise TypeError(
                f"{build!r} is neither a build(hp) function nor a keras_tuner.HyperModel"
            )
        # the code to point at: the HyperModel's class's build, not keras-tuner's wrapper of it
        code = type(build).build if self.hypermodel is not None else build
        self.build_fn: Callable[[Any], Any] = build.build if self.hypermodel is not None else build
        self.source_file, self.location = _source_of(code)
        function = getattr(code, "__name__", type(build).__name__)
        self.build_name = (
            f"{type(build).__name__}.build" if self.hypermodel is not None else function
        )
        self.name = name or _default_name(build, function, self.source_file)  # type: ignore[misc]
        where = display_path(self.source_file) if self.source_file else function
        kind = "keras-tuner HyperModel" if self.hypermodel is not None else "build(hp)"
        self.summary = summary or f"{kind} {self.build_name} of {where}"  # type: ignore[misc]
        self.default_dataset = default_dataset  # type: ignore[misc]
        self.epochs = epochs
        self.batch_size = batch_size
        self.PRESETS = {  # type: ignore[misc]
            key: value if isinstance(value, Preset) else Preset(key, where, "", dict(value))
            for key, value in (presets or {}).items()
        }
        if self.hypermodel is not None and _overrides_fit(self.hypermodel):
            _log.info("%s: its fit() is not used; the platform trains the model", self.build_name)

    def __repr__(self) -> str:
        return f"BuildFnSpace({self.build_name}, name={self.name!r})"

    # --- the SearchSpace API ------------------------------------------------------------------

    def sample_arch(self, hp: ParamSource) -> UserArch:
        """Run ``build`` with ``hp`` and keep the values it asked for (see :meth:`sample`)."""
        return self._run(hp)[0]

    def sample(self, hp: ParamSource) -> Candidate[UserArch]:
        """Run ``build(hp)`` on a keras-tuner ``hp`` over ``hp``, then the training knobs.

        A failure of ``build`` is kept in the architecture and raised by :meth:`build_model`, so
        a search's trial fails with it (sampling happens before the trial's error handling).
        """
        arch, model = self._run(hp)
        if arch.error is None and arch.compiled:
            return Candidate(arch, self._compiled_train(hp, model))
        clash = [name for name, _ in arch.values if name in PLATFORM_TRAIN_KNOBS]
        if arch.error is None and clash:
            error = UserBuildError(
                f"{self.location}: {self.build_name} declares {', '.join(map(repr, clash))}, a name of "
                "the platform's training knobs (they apply because it does not compile the model): "
                "rename it, or compile the model in build"
            )
            arch = UserArch(arch.values, arch.compiled, error)
        if arch.error is not None:
            return Candidate(
                arch, TrainConfig(epochs=1, batch_size=1, learning_rate=0.0, optimizer="adam")
            )
        return Candidate(arch, sample_train(hp, self.train_ranges, model_knobs=False))

    def from_params(self, params: Mapping[str, Any]) -> Candidate[UserArch]:
        """Rebuild a candidate from a plain dict (a trial's params, a preset), with no trial.

        Raises:
            InvalidParamsError: a value is missing, out of range, or not of this space.
            UserBuildError: ``build`` fails at this point.
        """
        source = FixedParams(params)
        candidate = self.sample(source)
        if candidate.arch.error is not None:
            raise candidate.arch.error
        source.check_all_used()
        return candidate

    def describe(self, passes: int = 100) -> dict[str, Any]:
        """Every parameter ``build`` and the training knobs can declare (fewer passes than a
        family's: each runs the user's build)."""
        return super().describe(passes)

    def build_model(
        self, candidate: Candidate[UserArch], input_shape: tuple[int, ...], num_classes: int
    ) -> keras.Model:
        """The user's model at ``candidate``'s point, built on ``input_shape``.

        Raises:
            UserBuildError: ``build`` raised, returned no Keras model, or its model does not take
                ``input_shape`` images or output ``num_classes`` probabilities.
            UnbuildableError: ``build`` itself said the point cannot be built.
        """
        arch = candidate.arch
        if arch.error is not None:
            raise arch.error
        model = self._call(HyperParameters(FixedParams(arch.params, strict=False)))
        self._fit_to_data(model, input_shape, num_classes)
        _output_in_float32(model)
        if bool(model.compiled) != arch.compiled:
            raise UserBuildError(
                f"{self.location}: {self.build_name} compiled the model in one call and not in "
                "another with the same values"
            )
        return model

    def compile(
        self, model: keras.Model, candidate: Candidate[UserArch], *, jit: bool | str = "auto"
    ) -> None:
        """Keep ``build``'s own compilation (adapted to one-hot labels and ``val_accuracy``), else
        compile with the platform's training knobs as for the families."""
        if not candidate.arch.compiled:
            super().compile(model, candidate, jit=jit)
            return
        _adapt_compiled(model, jit)
        _set_remapper_for(model)

    # --- internals ----------------------------------------------------------------------------

    def _run(self, source: ParamSource) -> tuple[UserArch, keras.Model | None]:
        """Run ``build`` on ``source``: the values it asked for, compiled or not, and its model."""
        hp = HyperParameters(source)
        model, error = None, None
        try:
            model = self._call(hp)
            if not isinstance(model, keras.Model):
                raise UserBuildError(self._not_a_model(model))
        except UserBuildError as exc:
            error = exc
        except Exception as exc:  # UnbuildableError from build: build_model raises it
            if isinstance(exc, InvalidParamsError):
                raise
            error = exc
        compiled = bool(error is None and model is not None and model.compiled)
        return UserArch(tuple(hp.sampled.items()), compiled, error), model

    def _call(self, hp: HyperParameters) -> Any:
        """``build(hp)``, with its failure told as ``file:line`` in the user's code."""
        if self.hypermodel is not None:
            self.hypermodel.declare_hyperparameters(hp)
        try:
            return self.build_fn(hp)
        except (InvalidParamsError, UnbuildableError):
            raise
        except Exception as exc:
            where = user_location(exc, self.source_file, self.location)
            raise UserBuildError(
                f"{where}: {self.build_name} raised {type(exc).__name__}: {one_line(exc)}"
            ) from exc

    def _not_a_model(self, result: Any) -> str:
        hint = " (is `return model` missing?)" if result is None else ""
        return f"{self.location}: {self.build_name} returned {type(result).__name__}, not a keras.Model{hint}"

    def _fit_to_data(self, model: Any, input_shape: tuple[int, ...], num_classes: int) -> None:
        """Build ``model`` on the images if it has no input yet; check its input and output."""
        if not isinstance(model, keras.Model):
            raise UserBuildError(self._not_a_model(model))
        if not model.built:
            try:
                model.build((None, *input_shape))
            except Exception as exc:
                where = user_location(exc, self.source_file, self.location)
                raise UserBuildError(
                    f"{where}: the model of {self.build_name} does not build on images of shape "
                    f"{tuple(input_shape)}: {type(exc).__name__}: {one_line(exc)}"
                ) from exc
        inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
        if inputs is not None and len(inputs) != 1 or outputs is not None and len(outputs) != 1:
            raise UserBuildError(
                f"{self.location}: the model of {self.build_name} must have one input and one output"
            )
        if inputs:
            shape = tuple(inputs[0].shape[1:])
            if len(shape) != len(input_shape) or any(
                a is not None and a != b for a, b in zip(shape, input_shape)
            ):
                raise UserBuildError(
                    f"{self.location}: the model of {self.build_name} takes inputs of shape {shape}, "
                    f"but the images are {tuple(input_shape)}"
                )
        if outputs:
            shape = tuple(outputs[0].shape)
            if shape[1:] != (num_classes,):
                raise UserBuildError(
                    f"{self.location}: the model of {self.build_name} outputs shape {shape}, but the "
                    f"data has {num_classes} classes: end it with "
                    f'Dense({num_classes}, activation="softmax")'
                )

    def _compiled_train(self, hp: ParamSource, model: keras.Model) -> TrainConfig:
        """The training of a model ``build`` compiled: the space's epochs and batch size; the
        optimizer, learning rate and loss fields only describe the user's compilation."""
        optimizer, learning_rate, loss = _describe_compiled(model)
        batch_size = self.batch_size
        if batch_size is None:
            batch_size = hp.int("batch_size", *self.train_ranges.batch_size, log=True)
        return TrainConfig(
            epochs=self.epochs or self.train_ranges.epochs[1],
            batch_size=batch_size,
            learning_rate=learning_rate,
            optimizer=optimizer,
            loss=loss,
        )


def _output_in_float32(model: keras.Model) -> None:
    """Under a mixed policy (``--precision bfloat16``), compute the layer that makes the model's
    output in float32, as the families' head does: a softmax in bfloat16 or float16 loses the
    small probabilities the loss and the ensemble's average read. A subclassed model's output
    layer is not known: it stays as the user built it (Keras' losses still compute in float32)."""
    outputs = getattr(model, "outputs", None)
    history = getattr(outputs[0], "_keras_history", None) if outputs else None
    layer = getattr(history, "operation", None)
    if isinstance(layer, keras.Layer) and layer.dtype_policy.compute_dtype != "float32":
        layer.dtype_policy = "float32"


def _source_of(code: Any) -> tuple[str | None, str]:
    """The file defining ``code`` and ``file:line`` of its ``def`` (or its name if unknown)."""
    try:
        target = inspect.unwrap(code)
        file = inspect.getsourcefile(target)
        line = inspect.getsourcelines(target)[1]
    except (OSError, TypeError):
        return None, getattr(code, "__qualname__", repr(code))
    if file is None or file.startswith("<"):
        return None, getattr(code, "__qualname__", repr(code))
    return file, f"{display_path(file)}:{line}"


def _default_name(build: Any, function: str, source_file: str | None) -> str:
    """A HyperModel's name; else the function's, or its file's stem for a generic function name."""
    if is_hypermodel(build) and getattr(build, "name", None):
        return str(build.name)
    if function in GENERIC_BUILD_NAMES or is_hypermodel(build):
        if source_file is not None:
            return Path(source_file).stem
        module = getattr(build, "__module__", None) or ""
        if module and module != "__main__":
            return module.rsplit(".", 1)[-1]
    return function


def _overrides_fit(hypermodel: Any) -> bool:
    kt = sys.modules["keras_tuner"]
    return type(hypermodel).fit is not kt.HyperModel.fit


def _describe_compiled(model: keras.Model) -> tuple[str, float, str]:
    """The optimizer's name, its learning rate (0 if not a number) and the loss's name."""
    optimizer = model.optimizer
    name = type(optimizer).__name__.lower()  # (its .name is made unique: adam_1, adam_2, ...)
    try:
        learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except Exception:  # noqa: BLE001 - a schedule or a callable: no single rate
        learning_rate = 0.0
    loss = model.loss
    if isinstance(loss, str):
        loss_name = loss
    else:
        loss_name = str(
            getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
        )
    return name, learning_rate, loss_name


def _one_hot_loss(loss: Any) -> Any:
    """``loss`` for one-hot labels: a sparse cross-entropy becomes the categorical one."""
    if isinstance(loss, str):
        return _SPARSE_LOSSES.get(loss, loss)
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        from_logits = bool(loss.get_config().get("from_logits", False))
        return keras.losses.CategoricalCrossentropy(from_logits=from_logits)
    if loss is keras.losses.sparse_categorical_crossentropy:
        return "categorical_crossentropy"
    return loss


def _one_hot_metric(metric: Any) -> Any:
    """``metric`` (a name or a serialized metric) for one-hot labels."""
    if isinstance(metric, str):
        return _SPARSE_METRICS.get(metric, metric)
    if isinstance(metric, dict) and metric.get("class_name") == "SparseCategoricalAccuracy":
        name = (metric.get("config") or {}).get("name") or "accuracy"
        return {**metric, "class_name": "CategoricalAccuracy", "config": {"name": name}}
    return metric


def _metric_name(metric: Any) -> str:
    if isinstance(metric, str):
        return metric
    if isinstance(metric, dict):
        return str((metric.get("config") or {}).get("name", ""))
    return str(getattr(metric, "name", ""))


def _adapt_compiled(model: keras.Model, jit: bool | str) -> None:
    """Recompile a model ``build`` compiled, only if needed: one-hot twins of sparse losses and
    metrics, an ``accuracy`` metric (the search monitors ``val_accuracy``), XLA if ``jit`` is True.

    The user's optimizer and loss objects are reused (no step has run yet); the metrics and the
    other compile arguments are read back from ``model.get_compile_config()``.

    Raises:
        UserBuildError: the model has to be recompiled and a metric cannot be read back.
    """
    config = model.get_compile_config() or {}
    loss = _one_hot_loss(model.loss)
    raw = config.get("metrics")
    metrics: Any = list(raw) if isinstance(raw, list | tuple) else ([] if raw is None else raw)
    changed = loss is not model.loss or (jit is True and config.get("jit_compile") is not True)
    if isinstance(metrics, list):  # (per-output dicts are left as they are)
        swapped = [_one_hot_metric(m) for m in metrics]
        changed = changed or swapped != metrics
        metrics = swapped
        if "accuracy" not in {_metric_name(m) for m in metrics}:
            metrics.append("accuracy")
            changed = True
    if not changed:
        return
    try:
        metrics = [m if isinstance(m, str) else keras.metrics.deserialize(m) for m in metrics]
    except Exception as exc:
        raise UserBuildError(
            f"cannot recompile the model for one-hot labels and an accuracy metric: a metric does "
            f"not deserialize ({type(exc).__name__}: {one_line(exc)}); register it with "
            "@keras.saving.register_keras_serializable, or compile with metrics=['accuracy']"
        ) from exc
    model.compile(
        optimizer=model.optimizer,
        loss=loss,
        loss_weights=config.get("loss_weights"),
        metrics=metrics,
        weighted_metrics=config.get("weighted_metrics"),
        run_eagerly=bool(config.get("run_eagerly", False)),
        steps_per_execution=int(config.get("steps_per_execution", 1)),
        jit_compile=True if jit is True else config.get("jit_compile", "auto"),
    )
