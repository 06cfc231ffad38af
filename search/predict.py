"""``python -m search.predict --study cnn IMAGE...``: classify your own images with a study's best model.

The model is the best trial's, as ``search.run`` kept it in the Optuna artifact store. Each image
(PNG, JPEG, ...; any size or colour) is converted to the model's input: resized, grey or RGB as the
model expects, scaled to [0, 1]. Fashion-MNIST and MNIST show light objects on a black ground, so a
grey image with a light background (a photo on paper) is inverted first; ``--invert never`` or
``--invert always`` overrides that. Prints one line per image: its path, class and probability.

``--model models:/NAME@champion`` (or ``models:/NAME/VERSION``) classifies with a model of the
MLflow Model Registry instead: ``search.run`` registers each search's final model under the study's
name, the alias ``champion`` on the best so far.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from search.cli import ArgumentParser, add_study_options
from search.core import (
    DEFAULT_OPTUNA_ARTIFACTS,
    DEFAULT_STORAGE,
    UsageError,
    exit_on_usage_error,
    resolve_tracking_uri,
    setup_logging,
    start_tensorflow,
)

if TYPE_CHECKING:
    import optuna

__all__ = ["build_parser", "class_names", "main", "read_image"]

_log = logging.getLogger("search")

#: ``--invert`` choices: decide from the image's border, or always, or never
INVERT_CHOICES = ("auto", "always", "never")


def build_parser() -> ArgumentParser:
    """The command line of ``search.predict``.

    Returns:
        The parser (bad arguments: one line on stderr, exit code 2).
    """
    p = ArgumentParser(prog="python -m search.predict", description="Classify image files with a study's best model.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...; any size or colour)")
    add_study_options(p, required=False)
    p.add_argument("--model", metavar="URI", help="a registered MLflow model instead of a study: models:/NAME@champion or models:/NAME/VERSION")
    p.add_argument("--tracking-uri", help="MLflow tracking URI of --model (default $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    p.add_argument("--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default {DEFAULT_STORAGE})")
    p.add_argument("--artifacts", default=DEFAULT_OPTUNA_ARTIFACTS, help=f"the models (default {DEFAULT_OPTUNA_ARTIFACTS})")
    p.add_argument("--invert", choices=INVERT_CHOICES, default="auto", help="invert grey images (default auto)")
    p.add_argument("--top", type=int, default=1, help="show the K most likely classes (default 1)")
    return p


def read_image(path: Path, shape: tuple[int, ...], invert: str = "auto") -> np.ndarray:
    """An image file as a model input.

    Args:
        path: a file PIL can read.
        shape: the model's input shape without the batch axis: (height, width, channels), with
            1 channel for grey and 3 for RGB.
        invert: for grey inputs, ``"always"`` or ``"never"`` invert, or ``"auto"``: invert when the
            image's border is light on average (the training images are light on black).

    Returns:
        A float32 array of ``shape`` in [0, 1].

    Raises:
        UsageError: the file is missing or not an image.
    """
    from PIL import Image, UnidentifiedImageError

    height, width, channels = shape
    try:
        with Image.open(path) as opened:
            image = opened.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.LANCZOS)
            array = np.asarray(image, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise UsageError(f"no image file {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise UsageError(f"cannot read {path} as an image ({type(exc).__name__})") from None
    if channels == 1:
        array = array[..., None]
        border = np.concatenate([array[0].ravel(), array[-1].ravel(), array[:, 0].ravel(), array[:, -1].ravel()])
        if invert == "always" or (invert == "auto" and float(border.mean()) > 0.5):
            array = 1.0 - array
    return array


def class_names(study: optuna.Study, count: int) -> list[str]:
    """The names of the model's ``count`` classes.

    From the study's test evaluation (``search.run`` records the data set's class names there),
    else from its data set (user attribute ``dataset``: a built-in's names, a folder's sub-folders),
    else the class indices.

    Args:
        study: the study the model belongs to.
        count: the number of the model's outputs.

    Returns:
        ``count`` names, in label order.
    """
    names = list((study.user_attrs.get("test_evaluation") or {}).get("class_names") or [])
    dataset = study.user_attrs.get("dataset")
    if len(names) != count and dataset:
        from search.data import load_dataset

        try:  # the names come with the data; a small subset keeps it quick
            names = list(load_dataset(str(dataset), limit=max(count * 2, 20)).class_names)
        except Exception as exc:  # data set moved or gone since the search: numbers will do
            _log.warning("class names of %s not available (%s); showing class numbers", dataset, exc)
    return [str(n) for n in names] if len(names) == count else [str(k) for k in range(count)]


def _check_images(args: argparse.Namespace) -> list[Path]:
    paths = [Path(p) for p in args.images]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"no image file {', '.join(missing)}")
    return paths


def _log_predictions(paths: list[Path], probabilities: np.ndarray, names: list[str], top: int) -> None:
    for path, probs in zip(paths, probabilities, strict=True):
        best = np.argsort(probs)[::-1][:top]
        _log.info("%s  %s", path, "  ".join(f"{names[k]} {probs[k]:.3f}" for k in best))


def _predict_registered(args: argparse.Namespace) -> int:
    """``--model models:/...``: classify with a model of the MLflow Model Registry."""
    from search.tracking import load_registered_model

    uri = str(args.model)
    with exit_on_usage_error("search.predict"):
        if not uri.startswith("models:/") or len(uri) <= len("models:/"):
            raise UsageError(f"--model must be models:/NAME@ALIAS or models:/NAME/VERSION, not {uri}")
        paths = _check_images(args)
        try:
            registered = load_registered_model(uri, resolve_tracking_uri(args.tracking_uri))
        except LookupError as exc:
            raise UsageError(str(exc)) from None
        shape = tuple(int(d) for d in registered.model.input_shape[1:])
        batch = np.stack([read_image(p, shape, args.invert) for p in paths])
    probabilities = np.asarray(registered.model.predict(batch, verbose=0))
    count = probabilities.shape[1]
    names = registered.class_names if len(registered.class_names) == count else [str(k) for k in range(count)]
    tags = registered.tags
    _log.info(
        "model %s version %s (%s of trial(s) %s, test accuracy %s)",
        registered.name, registered.version, tags.get("final_model", "model"), tags.get("trials", "?"),
        tags.get("test_accuracy", "?"),
    )  # fmt: skip
    _log_predictions(paths, probabilities, names, args.top)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Classify the images named on the command line and log one line per image.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        0; bad input (unknown study, no complete trial, no model, a missing or unreadable image)
        exits with code 2 after one line on stderr.
    """
    args = build_parser().parse_args(argv)
    start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr
    setup_logging()
    with exit_on_usage_error("search.predict"):
        if args.top < 1:
            raise UsageError(f"--top must be at least 1, not {args.top}")
        named = args.space or args.study
        if (named is None) == (args.model is None):
            raise UsageError("give --study FAMILY or --space SPEC (the study's final model), or --model models:/NAME@ALIAS")
    if args.model is not None:
        return _predict_registered(args)
    from search.results import final_model_of, load_best_model, load_study, study_name_for

    with exit_on_usage_error("search.predict"):
        study = load_study(args.storage, study_name_for(named, args.dataset, args.study_name, args.engine, args.tuner))
        paths = _check_images(args)
        model, best = load_best_model(study, args.artifacts)
        shape = tuple(int(d) for d in model.input_shape[1:])
        batch = np.stack([read_image(p, shape, args.invert) for p in paths])
    probabilities = np.asarray(model.predict(batch, verbose=0))
    names = class_names(study, probabilities.shape[1])
    final = final_model_of(study, best)
    how = ""
    if final and final.get("images"):
        how = f"; refit on {final['images']:,} images for {final['epochs']} epochs"
    if final and final.get("ensemble"):
        others = final["ensemble"]["members"][1:]
        how += f"; averaged with trial{'s' if len(others) > 1 else ''} {', '.join(map(str, others))}"
    _log.info("best trial %d of %s (validation accuracy %.4f%s)", best.number, study.study_name, best.values[0], how)
    _log_predictions(paths, probabilities, names, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
