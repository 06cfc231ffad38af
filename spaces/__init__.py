"""Search spaces: one module per model family of the documents, users' spaces, and the registry.

Adding a built-in family is one module defining a :class:`Space` subclass and a ``SPACE``
instance, plus one line in :data:`FAMILIES` (``spaces/_families.py``). A user's space needs no
change here: :func:`get_space` also finds spaces that installed packages register in the entry-point group
``keras_hpsearch.spaces``, and loads ``path/to/file.py[:NAME]`` or ``package.module[:NAME]``
specs — a ``Space`` subclass, or a keras-tuner ``build(hp)`` function or ``HyperModel``
(:class:`BuildFnSpace`, sampled through :class:`HyperParameters`). Every space is a
:class:`SearchSpace` (what the platform calls: sample, build, compile, presets, describe; it
pickles as its spec); :class:`Space` is the layer-by-layer base of the families, and a
``BuildFnSpace`` builds whole models. :func:`check` dry-builds a space before a search, so bad
user code fails in one line (:class:`SpaceError`).
"""

from __future__ import annotations

from spaces._base import Candidate, Preset, SearchSpace, Space, UnbuildableError
from spaces._check import check
from spaces._errors import SpaceError, UserBuildError
from spaces._families import FAMILIES
from spaces._hp import HyperParameters
from spaces._loading import ENTRY_POINT_GROUP, as_space, get_space, load_space, space_names
from spaces._params import (
    ChoiceParam,
    DefaultParams,
    FixedParams,
    FloatParam,
    IntParam,
    InvalidParamsError,
    Param,
    ParamSource,
    SpaceRecorder,
    TrialParams,
)
from spaces._train import TrainConfig, TrainRanges
from spaces._user import BuildFnSpace, UserArch

__all__ = [
    "ENTRY_POINT_GROUP",
    "FAMILIES",
    "BuildFnSpace",
    "Candidate",
    "ChoiceParam",
    "DefaultParams",
    "FixedParams",
    "FloatParam",
    "HyperParameters",
    "IntParam",
    "InvalidParamsError",
    "Param",
    "ParamSource",
    "Preset",
    "SearchSpace",
    "Space",
    "SpaceError",
    "SpaceRecorder",
    "TrainConfig",
    "TrainRanges",
    "TrialParams",
    "UnbuildableError",
    "UserArch",
    "UserBuildError",
    "as_space",
    "check",
    "get_space",
    "load_space",
    "space_names",
]
