"""The extension point: what every search space provides, and a model family as a search space.

:class:`SearchSpace` is the contract the platform relies on, for any space: a name, a summary,
presets, a default data set, :meth:`~SearchSpace.sample` a candidate from a
:class:`~spaces._params.ParamSource`, :meth:`~SearchSpace.build_model` its Keras model,
:meth:`~SearchSpace.compile` it, rebuild a candidate from a plain dict, describe the ranges, and
pickle as the spec :func:`spaces.get_space` finds it by. A user's ``build(hp)`` function or
keras-tuner ``HyperModel`` (:class:`~spaces.BuildFnSpace`) is one, building whole models.

A family subclasses :class:`Space`, the base of the built-in families, and writes two methods, in
the keras-tuner split of a space from the search algorithm:

* :meth:`Space.sample_arch` asks a :class:`~spaces._params.ParamSource` for its architecture
  parameters and returns a typed, frozen config dataclass;
* :meth:`Space.build_body` turns that config into Keras layers.

Everything else (training knobs, input handling, augmentation, output layer, rebuilding from a
plain dict, describing the ranges) is shared here, so a new family is one module plus one line in
``spaces/_families.py``.
"""

from __future__ import annotations

import abc
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar

import keras

from spaces._params import FixedParams, Param, ParamSource, SpaceRecorder
from spaces._train import TrainConfig, TrainRanges, sample_train

__all__ = ["Candidate", "Preset", "SearchSpace", "Space", "UnbuildableError"]

A = TypeVar("A")


class UnbuildableError(ValueError):
    """A point of the space whose layers do not fit the input (a feature map shrinks to nothing).

    :meth:`Space.build_body` raises it, in one line, before any layer is too small; the search
    prunes such a trial at once, so its sampler learns to avoid the region.
    """


@dataclass(frozen=True)
class Candidate(Generic[A]):
    """One point of a space: an architecture and how to train it."""

    arch: A
    train: TrainConfig


@dataclass(frozen=True)
class Preset:
    """A configuration a document ended with, as a plain parameter dict of its family's space."""

    name: str
    source: str  # the document it comes from, e.g. "000" for 000_7eb19a39ea7da979.txt
    description: str
    params: Mapping[str, Any]
    param_count: int | None = None  # the count the document reports, checked by the tests
    dataset: str = "fashion_mnist"  # the data set it was built for


class SearchSpace(abc.ABC, Generic[A]):
    """What every search space provides: its name, presets and ranges, candidates and their models.

    A subclass samples a :class:`Candidate` (:meth:`sample`) and builds its model
    (:meth:`build_model`); the rest has defaults that fit any space whose candidates carry a
    :class:`~spaces.TrainConfig`.

    A space :func:`spaces.get_space` found (a family, an installed entry point, a spec) knows the
    :attr:`spec` it was found by, and pickles as that spec: unpickling, in any process, calls
    ``get_space(spec)``, which imports the user's file again if need be and returns the very
    space that process has under that spec (its build function or classes may not pickle by
    value: a user's file is imported under a module name only the loader knows).
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    default_dataset: ClassVar[str] = "fashion_mnist"
    #: known-good points of the space by name (a family's: its documents' final configurations);
    #: none unless a subclass sets it (or overrides :attr:`presets`)
    PRESETS: ClassVar[Mapping[str, Preset]] = MappingProxyType({})
    #: the spec the registry found this space by (:meth:`_found_as`); None until then
    _spec: str | None = None

    @property
    def presets(self) -> Mapping[str, Preset]:
        """Known-good points of this space, by name (:attr:`PRESETS`)."""
        return self.PRESETS

    def preset_of(self, values: Mapping[str, Any], dataset: str | None = None) -> str | None:
        """The name of the preset whose every value ``values`` holds (of ``dataset``'s presets
        when given), or None: a point a search drew or was given that is a preset."""
        return next(
            (
                name
                for name, preset in self.presets.items()
                if (dataset is None or preset.dataset == dataset)
                and all(k in values and values[k] == v for k, v in preset.params.items())
            ),
            None,
        )

    @property
    def spec(self) -> str | None:
        """What :func:`spaces.get_space` resolves to this very space in any process: a family's
        or an installed entry point's name, or the ``path.py:NAME`` / ``module:NAME`` spec it
        was loaded from; None for a space made in this process only (a notebook's)."""
        return self._spec

    def _found_as(self, spec: str) -> None:
        """Record that :func:`spaces.get_space` finds this space by ``spec`` (the registry calls
        it); from then on the space pickles as ``spec``."""
        self._spec = spec

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickled as its :attr:`spec` when it has one (see the class docstring), else by value."""
        if self._spec is None:
            return super().__reduce_ex__(protocol)
        return _space_from_spec, (self._spec,)

    @abc.abstractmethod
    def sample(self, hp: ParamSource) -> Candidate[A]:
        """Sample a whole candidate (architecture, then training) from ``hp``.

        Raises:
            InvalidParamsError: ``hp`` holds fixed values that are not of this space.
        """

    @abc.abstractmethod
    def build_model(
        self, candidate: Candidate[A], input_shape: tuple[int, ...], num_classes: int
    ) -> keras.Model:
        """The Keras model of ``candidate`` (not compiled) on ``input_shape`` images, with one
        softmax output per class.

        Raises:
            UnbuildableError: the point does not fit the input (the search prunes its trial).
        """

    def from_params(self, params: Mapping[str, Any]) -> Candidate[A]:
        """Rebuild a candidate from a plain dict, with no Optuna trial.

        Raises:
            InvalidParamsError: a value is missing, out of range, or not of this space.
        """
        source = FixedParams(params)
        candidate = self.sample(source)
        source.check_all_used()
        return candidate

    def describe(self, passes: int = 300) -> dict[str, Param]:
        """Every parameter the space can declare, with its range, in declaration order."""
        found: dict[str, Param] = {}
        rng = random.Random(0)
        for i in range(passes):
            recorder = SpaceRecorder(None if i == 0 else rng)
            self.sample(recorder)
            for name, param in recorder.params.items():
                found.setdefault(name, param)
        return found

    def compile(self, model: keras.Model, candidate: Candidate[A], *, jit: bool | str = "auto") -> None:
        """Compile ``model`` with the optimizer and loss of ``candidate`` (``jit``: Keras'
        ``jit_compile``, True for XLA); on a CPU, keep TensorFlow's remapper off its training step
        if it has leaky ReLUs (:func:`_set_remapper_for`)."""
        model.compile(
            optimizer=candidate.train.make_optimizer(),
            loss=candidate.train.make_loss(),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
            jit_compile=jit,
        )
        _set_remapper_for(model)


def _space_from_spec(spec: str) -> SearchSpace:
    """Unpickle a space: the one :func:`spaces.get_space` finds by ``spec`` in this process."""
    # The registry sits above this module (it loads the spaces this module defines the base of):
    # imported when a space is unpickled, by which time the package is whole.
    import spaces

    return spaces.get_space(spec)


@dataclass
class Space(SearchSpace[A]):
    """A model family built from layers: the base of the built-in families.

    A subclass writes :meth:`sample_arch` and :meth:`build_body`; sampling the training knobs,
    the input, augmentation and softmax head are shared.
    """

    train_ranges: TrainRanges = field(default_factory=TrainRanges)

    @abc.abstractmethod
    def sample_arch(self, hp: ParamSource) -> A:
        """Ask ``hp`` for the architecture parameters and return them as a config."""

    @abc.abstractmethod
    def build_body(
        self, arch: A, x: keras.KerasTensor, regularizer: keras.regularizers.Regularizer | None
    ) -> keras.KerasTensor:
        """Layers from the (augmented) input to the features the classifier head reads.

        Args:
            arch: the architecture config.
            x: the input tensor, shape ``(height, width, channels)``, scaled to [0, 1].
            regularizer: L2 for every conv/dense kernel, or None.

        Raises:
            UnbuildableError: ``arch`` does not fit the input's size.
        """

    def sample(self, hp: ParamSource) -> Candidate[A]:
        """Sample a whole candidate (architecture, then training) from ``hp``."""
        arch = self.sample_arch(hp)
        return Candidate(arch, sample_train(hp, self.train_ranges))

    def build_model(
        self, candidate: Candidate[A], input_shape: tuple[int, ...], num_classes: int
    ) -> keras.Model:
        """The Keras model of ``candidate`` (not compiled), with augmentation and softmax head."""
        train = candidate.train
        inputs = keras.Input(shape=input_shape, name="image")
        x = inputs
        if train.shift > 0:
            x = keras.layers.RandomTranslation(train.shift, train.shift, fill_mode="constant")(x)
        if train.hflip:
            x = keras.layers.RandomFlip("horizontal")(x)
        reg = keras.regularizers.L2(train.weight_decay) if train.weight_decay > 0 else None
        x = self.build_body(candidate.arch, x, reg)
        outputs = keras.layers.Dense(
            num_classes, activation="softmax", kernel_regularizer=reg, dtype="float32", name="classes"
        )(x)
        return keras.Model(inputs, outputs, name=self.name)


def _uses_leaky_relu(layer: keras.Layer) -> bool:
    """Whether ``layer`` or any layer inside it applies a leaky ReLU."""
    if isinstance(layer, keras.layers.LeakyReLU):
        return True
    if getattr(layer, "activation", None) is keras.activations.leaky_relu:  # Conv2D(activation=...), Activation
        return True
    return any(_uses_leaky_relu(inner) for inner in getattr(layer, "layers", ()))


def _set_remapper_for(model: keras.Model) -> None:
    """Turn TensorFlow's grappler remapper off for a model with leaky ReLUs on a CPU, on otherwise.

    With oneDNN (TensorFlow's CPU default) the remapper fails on the training step of a
    convolution followed by a leaky ReLU: it fuses the convolution's bias into the activation
    while the activation's gradient still reads it, logs ``E0000 ... meta_optimizer.cc] remapper
    failed: INVALID_ARGUMENT: Mutation::Apply error: fanout '.../LeakyReluGrad' exist for missing
    node '.../BiasAdd'`` in the middle of a search's output, and leaves that graph un-remapped.
    Without the pass nothing is lost for the training step (its remapping failed anyway: the basic
    CNN 002 with leaky ReLUs trained 10,800 images in 1.76 s an epoch without it, 1.79 s with its
    failure) and the misleading line is gone; other models keep the remapper's fusions. The
    option is read when a function first runs, in the thread that runs it, so setting it as each
    model is compiled applies it to that model's training. On a GPU, TensorFlow's default stays.
    """
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return
    tf.config.optimizer.set_experimental_options({"remapping": not _uses_leaky_relu(model)})
