"""``python -m search.run --study FAMILY``: search a model family's space with Optuna.

Running the same command again resumes the same study. See ``--help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence

from search.cli import ArgumentParser, duration, fraction
from search.core import (
    ENGINES,
    PRECISIONS,
    PRUNER_NAMES,
    SAMPLER_NAMES,
    SUMMARY_LOGGER,
    TUNER_NAMES,
    SearchSettings,
    UsageError,
    check_cv,
    exit_on_usage_error,
    field_default,
    resolve_n_trials,
    setup_logging,
    start_tensorflow,
)

__all__ = ["build_parser", "main", "settings_from_args"]

_log = logging.getLogger("search")
_summary = logging.getLogger(SUMMARY_LOGGER)  # what --quiet still shows


#: the built-in families, named here so that ``--help`` needs no Keras (a test checks them)
FAMILY_NAMES = ("cnn", "lenet", "resnet", "rnn", "cifar_cnn")


def build_parser() -> ArgumentParser:
    """The command line of ``search.run``; each default is :class:`SearchSettings`' own."""
    d = field_default
    p = ArgumentParser(
        prog="python -m search.run",
        description="Search hyperparameters of a Keras model family with Optuna; "
        "the same command resumes the study.",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--study", metavar="FAMILY", help=f"model family: {', '.join(FAMILY_NAMES)}, or a space an installed package registers")
    which.add_argument("--space", metavar="SPEC", help="your own space: file.py[:NAME] or package.module[:NAME] holding a Space, a keras-tuner HyperModel or a build(hp) function; the study is named after it")
    p.add_argument("--show-space", action="store_true", help="print the space's parameters, ranges and presets, then exit")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="fashion_mnist (default), mnist, cifar10, a .npz file or an image folder")
    g.add_argument("--val-fraction", type=float, default=d("val_fraction"), help="stratified validation share of the training set (default %(default)s)")
    g.add_argument("--limit", type=int, help="train on a stratified subset of this many images (quick runs)")
    g = p.add_argument_group("search")
    g.add_argument("--n-trials", type=int, help=f"trials to run in this invocation, over all its workers (default {d('n_trials')}; with --timeout, none)")
    g.add_argument("--study-trials", type=int, metavar="N", help="run until the whole study has N trials, whoever runs them (several machines)")
    g.add_argument("--timeout", type=duration, help="the invocation's time budget: 600, 20m, 2h; no trial starts or trains past it (with --refit, the refit fits in it too)")
    g.add_argument("--trial-timeout", type=duration, help="stop every trial still training after this long (default: none; a trial that does not lead may use, past its first rung, half the search time left when it started)")
    g.add_argument("--max-epochs", type=int, default=d("max_epochs"), help="cap on every trial's epochs; Hyperband's maximum (default %(default)s)")
    g.add_argument("--engine", choices=ENGINES, default=d("engine"), help="who chooses the trials (default %(default)s)")
    g.add_argument("--tuner", choices=TUNER_NAMES, default=d("tuner"), help="keras-tuner's algorithm with --engine keras-tuner (default %(default)s)")
    g.add_argument("--sampler", choices=SAMPLER_NAMES, default=d("sampler"), help="default %(default)s: draws around the documents' presets and the best trials so far, a third globally by multivariate TPE (PriorBand-like); tpe ignores the presets")
    g.add_argument("--pruner", choices=PRUNER_NAMES, default=d("pruner"), help="default %(default)s (asynchronous, one bracket)")
    g.add_argument("--first-epoch-fraction", type=fraction, default=d("first_epoch_fraction"), metavar="F", help="with a pruner, each trial's first epoch trains on this stratified share of the training images (at least 5,000; every image below 10,000), the later epochs on all, so the first comparison costs less (default %(default)s; 1: off)")
    g.add_argument("--objectives", default=",".join(d("objectives")), help="accuracy (default), accuracy,time or accuracy,params (Pareto front)")
    g.add_argument("--seed", type=int, help="seed of the sampler, the data split, and each trial's initial weights and data order (trial N: seed + N)")
    g.add_argument("--refit", action="store_true", help="train the best configuration again on training + validation images for its best epoch count; that is the final model")
    g.add_argument("--ensemble", type=int, default=d("ensemble"), metavar="N", help="the final model averages the predictions of up to N picks of the best trials' models, chosen on validation images (default %(default)s: the best model alone)")
    g.add_argument("--cv", default=d("cv"), metavar="{auto,off,K}", help="choose the best configuration by K-fold cross-validation of the trials within two standard errors of the best: auto (default) with 5 folds when the validation split has under 2,000 images, off, or K folds always")
    g.add_argument("--enqueue-presets", action="store_true", help="start with the documents' configurations of this family")
    g.add_argument("--precision", choices=PRECISIONS, default=d("precision"), help="compute precision, weights and outputs kept in float32: %(default)s (default) is bfloat16 on CPUs with native bfloat16 (avx512_bf16 or amx_bf16), float32 elsewhere; float16 needs a GPU")
    g.add_argument("--mixed-precision", action="store_true", help="--precision float16 on GPUs (mixed_float16; ignored on CPUs)")
    g.add_argument("--jit", action="store_true", help="compile each model's training step with XLA")
    g.add_argument("--threads", type=int, help="TensorFlow threads per process (default: the cores shared by the workers)")
    g.add_argument("--workers", type=int, default=d("workers"), help="worker processes on this machine, all on the same study (default %(default)s)")
    g.add_argument("--gpus", action="store_true", help="give each worker its own GPU (CUDA_VISIBLE_DEVICES)")
    g = p.add_argument_group("storage and tracking")
    g.add_argument("--storage", default=d("storage"), help="Optuna storage URL (default %(default)s)")
    g.add_argument("--study-name", help="default: FAMILY-DATASET (with keras-tuner: FAMILY-DATASET-kt-TUNER)")
    g.add_argument("--artifacts", default=d("artifacts"), help="folder for the best models (default %(default)s)")
    g.add_argument("--tracking-uri", help="MLflow tracking URI (default $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)")
    g.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    g.add_argument("--no-test", action="store_true", help="skip the final test-set evaluation of the best configuration")
    g.add_argument("--verbose", action="store_true", help="show Keras' per-epoch output")
    g.add_argument("--quiet", action="store_true", help="no progress: warnings, errors and the summary alone")
    return p


def settings_from_args(args: argparse.Namespace) -> SearchSettings:
    """Turn parsed arguments into :class:`SearchSettings`: an option sets the field of its own
    name; the few that differ are named here.

    Raises:
        UsageError: both ``--n-trials`` and ``--study-trials``; a ``--cv`` that is not auto, off
            or a number of folds.
    """
    if args.study_trials is not None and args.n_trials is not None:
        raise UsageError("give --n-trials (this invocation) or --study-trials (the whole study), not both")
    same = {f.name: getattr(args, f.name) for f in dataclasses.fields(SearchSettings) if hasattr(args, f.name)}
    return SearchSettings(
        **{
            **same,
            "family": args.space or args.study,
            "n_trials": resolve_n_trials(args.n_trials, args.timeout, args.study_trials),
            "cv": check_cv(args.cv),
            "objectives": tuple(o.strip() for o in args.objectives.split(",") if o.strip()),
            "evaluate": not args.no_test,
            "track": not args.no_mlflow,
        }
    )


def show_space(family: str) -> None:
    """Print a space's parameters with their ranges, then its presets (``family``: a family's
    name, an installed space's, or a spec)."""
    from spaces import get_space

    space = get_space(family)
    _log.info("%s: %s (default data set %s)", space.name, space.summary, space.default_dataset)
    params = space.describe()
    width = max(len(n) for n in params)
    for name, param in params.items():
        _log.info("  %s  %s", name.ljust(width), param.describe())
    _log.info("presets:")
    for preset in space.presets.values():
        count = f", {preset.param_count:,} params" if preset.param_count else ""
        _log.info("  %s (document %s, %s%s): %s", preset.name, preset.source, preset.dataset, count, preset.description)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for bad input)."""
    args = build_parser().parse_args(argv)
    start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr
    if args.verbose and args.quiet:
        sys.stderr.write("search.run: error: give --verbose or --quiet, not both\n")
        return 2
    setup_logging(args.verbose, args.quiet)
    with exit_on_usage_error("search.run"):
        if args.show_space:
            try:
                show_space(args.space or args.study)
            except KeyError as exc:
                raise UsageError(exc.args[0]) from None
            return 0
        settings = settings_from_args(args)
        from search.api import run  # TensorFlow, Optuna and MLflow: only after --help

        try:
            _, summary = run(settings)
        except KeyboardInterrupt:
            return 130
        for line in summary.lines():
            _summary.info("%s", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
