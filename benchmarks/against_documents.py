"""The documents' configurations against what a timed search finds, on this machine.

    python benchmarks/against_documents.py --quick    # 2,000 images, 1 epoch, a 1-minute search (~4 min)
    python benchmarks/against_documents.py            # all images, presets up to 10 epochs, 20- and 60-minute searches
    python benchmarks/against_documents.py --storage sqlite:///storage/optuna.db --study-name cnn-fashion_mnist
    python benchmarks/against_documents.py --families cnn lenet --study-name cnn-fashion_mnist   # fewer presets
    python benchmarks/against_documents.py --minutes 20 --study-name cnn-2h   # a new search and a stored one

Each preset of the Fashion-MNIST families is trained as its document specified (its epochs, capped
by ``--max-epochs``) on the same split the search uses, then scored once on the test set. Next to
them, the final model of a ``search.run --study cnn --timeout N`` with ``make run``'s options for each
``--minutes`` (the ensemble of the best trials' models and the best configuration's refit on training
+ validation images, within the same budget) and, with ``--study-name``, the final models of studies
that already ran: test accuracy and training time side by side.
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.core import start_tensorflow  # noqa: E402

start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr

from search import run  # noqa: E402
from search.core import (
    DEFAULT_STORAGE,  # noqa: E402
    setup_logging,  # noqa: E402
)
from search.data import load_dataset, one_hot  # noqa: E402
from search.training import (
    device_description,  # noqa: E402
    fit_candidate,  # noqa: E402
)
from spaces import FAMILIES  # noqa: E402

_log = logging.getLogger("search.benchmarks")

# The searches run what `make run` runs: the documents' CNNs first, the refit, an ensemble of up to 5.
MAIN_JOB = ("--enqueue-presets", "--refit", "--ensemble", "5")


def presets(limit: int | None, max_epochs: int, families: list[str]) -> list[tuple[str, float, float, int]]:
    """(preset, test accuracy, training seconds, epochs) of every Fashion-MNIST preset of ``families``."""
    data = load_dataset("fashion_mnist", limit=limit, seed=0)
    rows = []
    for family in families:
        space = FAMILIES[family]
        for preset in space.presets.values():
            if preset.dataset != "fashion_mnist":
                continue
            candidate = space.from_params(preset.params)
            epochs = min(candidate.train.epochs, max_epochs)
            start = time.perf_counter()
            result = fit_candidate(space, candidate, data, max_epochs=max_epochs)
            seconds = time.perf_counter() - start
            _, accuracy = result.model.evaluate(data.x_test, one_hot(data.y_test, data.num_classes), verbose=0)
            rows.append((f"{family}/{preset.name} (document {preset.source})", float(accuracy), seconds, epochs))
            _log.info("%s: test accuracy %.4f in %.0f s (%d epochs)", rows[-1][0], accuracy, seconds, epochs)
    return rows


def searched(storage: str, names: list[str]) -> list[tuple[str, float, float, int]]:
    """(study and its final model, test accuracy, training seconds, epochs) of finished studies.

    The seconds are those of training the final model: its trials' epochs (every member of an
    ensemble), plus the refit's; the epochs are the best trial's (or its refit's).
    """
    import optuna

    rows = []
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        evaluation = study.user_attrs.get("test_evaluation") or {}
        best = study.best_trial
        by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
        members = (evaluation.get("ensemble") or {}).get("members") or [best.number]
        seconds = sum(float(by_number[m].user_attrs.get("training_seconds", 0.0)) for m in members if m in by_number)
        epochs = int(best.user_attrs.get("epochs_run", 0))
        final = f"trial {best.number}"
        refit = evaluation.get("refit")
        if refit:  # the best configuration refit on training + validation images
            seconds += float(refit["seconds"])
            epochs = int(refit["epochs"])
            final += " refit"
        if len(members) > 1:
            final = f"ensemble of trials {', '.join(map(str, members))}" + (" and the refit" if refit else "")
        accuracy = float(evaluation.get("accuracy", float("nan")))
        rows.append((f"search: {name}, {len(study.trials)} trials, {final}", accuracy, seconds, epochs))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 images, 1 epoch, one 1-minute search")
    parser.add_argument("--minutes", type=float, nargs="+",
                        help="search budgets (default 20 60; quick 1; none with --study-name unless given)")
    parser.add_argument("--storage", default=DEFAULT_STORAGE,
                        help=f"with --study-name: the storage of those studies (default {DEFAULT_STORAGE})")
    parser.add_argument("--study-name", "--studies", dest="studies", nargs="+", default=[],
                        help="read these finished studies instead of searching")
    parser.add_argument("--max-epochs", type=int, help="cap on the presets' epochs and the search's (default 10; quick 1)")
    parser.add_argument("--limit", type=int, help="train on a stratified subset of this many images (default all; quick 2000)")
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES), default=list(FAMILIES),
                        help="whose presets to train (default all)")
    args = parser.parse_args()
    setup_logging()
    limit = args.limit or (2000 if args.quick else None)
    max_epochs = args.max_epochs or (1 if args.quick else 10)
    _log.info("machine: %s, %s, Python %s", platform.machine(), device_description(), platform.python_version())
    rows = presets(limit, max_epochs, args.families)
    if args.studies:
        rows += searched(args.storage, args.studies)
    budgets = args.minutes or ([] if args.studies else [1.0] if args.quick else [20.0, 60.0])
    if budgets:
        with tempfile.TemporaryDirectory() as tmp:
            storage = f"sqlite:///{tmp}/optuna.db"
            names = []
            for minutes in budgets:
                name = f"cnn-{minutes:g}min"
                names.append(name)
                run.main([
                    "--study", "cnn", "--study-name", name, "--storage", storage, "--artifacts", f"{tmp}/artifacts",
                    "--timeout", f"{minutes}m", "--max-epochs", str(max_epochs), "--seed", "0", "--no-mlflow", *MAIN_JOB,
                    *(["--limit", str(limit)] if limit else []),
                ])  # fmt: skip
            rows += searched(storage, names)
    _log.info("| configuration | test accuracy | training s | epochs |")
    _log.info("|---|---:|---:|---:|")
    for name, accuracy, seconds, epochs in rows:
        _log.info("| %s | %.4f | %.0f | %d |", name, accuracy, seconds, epochs)


if __name__ == "__main__":
    main()
