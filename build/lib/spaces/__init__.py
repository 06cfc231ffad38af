"""Search spaces: one module per model family of the documents, and the registry of families.

Adding a family is one module defining a :class:`Space` subclass and a ``SPACE`` instance, plus
one line in :data:`FAMILIES`.
"""

from __future__ import annotations

from spaces import cifar_cnn, cnn, lenet, resnet, rnn
from spaces._base import Candidate, Preset, Space, UnbuildableError
from spaces._params import (
    ChoiceParam,
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

__all__ = [
    "FAMILIES",
    "Candidate",
    "ChoiceParam",
    "FixedParams",
    "FloatParam",
    "IntParam",
    "InvalidParamsError",
    "Param",
    "ParamSource",
    "Preset",
    "Space",
    "SpaceRecorder",
    "TrainConfig",
    "TrainRanges",
    "TrialParams",
    "UnbuildableError",
    "get_space",
]

#: Every registered family, by the name ``--study`` takes.
FAMILIES: dict[str, Space] = {
    "cnn": cnn.SPACE,
    "lenet": lenet.SPACE,
    "resnet": resnet.SPACE,
    "rnn": rnn.SPACE,
    "cifar_cnn": cifar_cnn.SPACE,
}


def get_space(family: str) -> Space:
    """The space of ``family``.

    Raises:
        KeyError: with a message listing the valid families.
    """
    try:
        return FAMILIES[family]
    except KeyError:
        raise KeyError(
            f"unknown model family {family!r}; choose one of: {', '.join(sorted(FAMILIES))}"
        ) from None
