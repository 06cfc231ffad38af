"""What trains a candidate, as one swappable object: the seam a simulator replaces.

The objective asks a :class:`Trainer` to build a candidate's model, to count its multiply-adds
(what the cost model predicts its pace from) and to fit it with the trial's callbacks; the refit
asks it to train the chosen configuration on every labelled image. The
default, :data:`KERAS_TRAINER`, does it with Keras (:func:`prepare_model`, :func:`multiply_adds`,
:func:`fit_candidate`); a simulator answers from recorded learning curves instead, driving the same
callbacks on a virtual clock, so that everything else of the search runs unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from search.data import Dataset
from search.training._counting import multiply_adds
from search.training._fit import FinalFit, TrainResult, fit_candidate, fit_final, prepare_model
from spaces import Candidate, SearchSpace

__all__ = ["KERAS_TRAINER", "KerasTrainer", "Trainer"]


class Trainer(Protocol):
    """Builds, measures and fits a candidate."""

    def build(
        self, space: SearchSpace, candidate: Candidate, data: Dataset, *, params: Mapping[str, Any], jit: bool = False
    ) -> Any:
        """The candidate's compiled model (``params``: the point it was sampled from).

        Raises:
            spaces.UnbuildableError: the point cannot be built.
        """
        ...

    def multiply_adds(self, model: Any) -> int:
        """Multiply-adds per image (ValueError, TypeError or AttributeError: cannot tell)."""
        ...

    def fit(
        self,
        space: SearchSpace,
        candidate: Candidate,
        data: Dataset,
        *,
        max_epochs: int,
        callbacks: Sequence[Any] = (),
        verbose: bool = False,
        model: Any = None,
        initial_epoch: int = 0,
        first_epoch_images: int | None = None,
        subset_seed: int = 0,
    ) -> TrainResult:
        """Train the candidate as :func:`fit_candidate` does, calling ``callbacks`` as Keras does."""
        ...

    def fit_final(self, space: SearchSpace, candidate: Candidate, data: Dataset, **kwargs: Any) -> FinalFit:
        """Train the candidate on every labelled image, as :func:`fit_final` does (the refit)."""
        ...


class KerasTrainer:
    """The real one: Keras builds and trains (see :func:`fit_candidate`)."""

    def build(
        self, space: SearchSpace, candidate: Candidate, data: Dataset, *, params: Mapping[str, Any], jit: bool = False
    ) -> Any:
        return prepare_model(space, candidate, data, jit=jit)

    def multiply_adds(self, model: Any) -> int:
        return multiply_adds(model)

    def fit(self, space: SearchSpace, candidate: Candidate, data: Dataset, **kwargs: Any) -> TrainResult:
        return fit_candidate(space, candidate, data, **kwargs)

    def fit_final(self, space: SearchSpace, candidate: Candidate, data: Dataset, **kwargs: Any) -> FinalFit:
        return fit_final(space, candidate, data, **kwargs)


#: the trainer every search uses unless a simulator gives another
KERAS_TRAINER = KerasTrainer()
