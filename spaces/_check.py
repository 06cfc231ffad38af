"""A dry build of a space before any trial exists: bad user code fails here, in one line."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import keras
import numpy as np

from spaces._base import Candidate, SearchSpace, UnbuildableError
from spaces._errors import SpaceError, UserBuildError, display_path, one_line, user_location
from spaces._params import DefaultParams, InvalidParamsError
from spaces._user import BuildFnSpace

__all__ = ["check"]

_log = logging.getLogger("spaces")


def check(space: SearchSpace, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Build and compile ``space``'s model at its default point, run it on two blank images, and
    check every preset is a point of the space.

    The default point is each parameter's default (a ``build(hp)``'s ``default=`` or
    keras-tuner's; a family's lowest values and first choices); if a family cannot be built
    there, its first preset. Call it before creating a study, so bad user code stores nothing.

    Args:
        space: the space about to be searched.
        input_shape: one image's shape, ``(height, width, channels)``.
        num_classes: the number of classes of the data.

    Raises:
        SpaceError: one line naming the user's file and line: building fails, the result is not
            a Keras model, it does not take the images, its output is not one value per class,
            or a preset is not a point of the space.
    """
    file, where = _source(space)
    model, candidate = _dry_build(space, tuple(input_shape), num_classes, file, where)
    try:
        space.compile(model, candidate)
        out = model(np.zeros((2, *input_shape), dtype="float32"), training=False)
    except Exception as exc:
        if isinstance(exc, UserBuildError):
            raise SpaceError(str(exc)) from exc
        at = user_location(exc, file, where)
        raise SpaceError(
            f"{at}: the model does not run on the images: {type(exc).__name__}: {one_line(exc)}"
        ) from exc
    shape = tuple(out.shape)
    if shape != (2, num_classes):
        raise SpaceError(
            f"{where}: the model outputs shape {shape[1:]} per image, but the data has {num_classes} "
            f'classes: end it with Dense({num_classes}, activation="softmax")'
        )
    probabilities = keras.ops.convert_to_numpy(out)
    if not (
        np.all(probabilities >= -1e-6) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    ):
        _log.warning(
            "%s: the model's outputs are not probabilities (no softmax at the end?); the final "
            "evaluation and the ensembles average and score them as probabilities",
            where,
        )
    for name, preset in space.presets.items():
        try:
            space.from_params(preset.params)
        except (InvalidParamsError, UserBuildError) as exc:
            raise SpaceError(
                f"{where}: preset {name!r} is not a point of the space: {exc}"
            ) from exc


def _dry_build(
    space: SearchSpace, input_shape: tuple[int, ...], num_classes: int, file: str | None, where: str
) -> tuple[keras.Model, Candidate[Any]]:
    """The model at the default point (a family that cannot be built there: its first preset)."""
    points: list[Any] = [None, *list(space.presets.values())[:1]]
    for i, preset in enumerate(points):
        try:
            candidate = (
                space.sample(DefaultParams())
                if preset is None
                else space.from_params(preset.params)
            )
            error = getattr(candidate.arch, "error", None)
            if error is not None:
                raise error
            return space.build_model(candidate, input_shape, num_classes), candidate
        except UnbuildableError as exc:
            if i + 1 < len(points):
                continue
            raise SpaceError(
                f"{where}: the space's default point does not fit images of shape {input_shape}: {exc}"
            ) from exc
        except (UserBuildError, SpaceError) as exc:
            raise SpaceError(str(exc)) from exc
        except Exception as exc:
            at = user_location(exc, file, where)
            raise SpaceError(
                f"{at}: building the model raised {type(exc).__name__}: {one_line(exc)}"
            ) from exc
    raise AssertionError("unreachable")


def _source(space: SearchSpace) -> tuple[str | None, str]:
    """The user's file and ``file:line`` to blame: the build function's ``def``, else the class's."""
    if isinstance(space, BuildFnSpace):
        return space.source_file, space.location
    cls = type(space)
    try:
        file = inspect.getsourcefile(cls)
        line = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return None, cls.__qualname__
    if file is None:
        return None, cls.__qualname__
    return file, f"{display_path(file)}:{line}"
