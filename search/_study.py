"""Studies: storage, sampler and pruner by name, creating or resuming a study, enqueueing presets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from sqlalchemy import exc as sqlalchemy_exc

from search._faults import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_HEARTBEAT_SECONDS,
    CloseRunAndRetry,
    grace_seconds,
    heartbeat_seconds,
)
from search._paths import DEFAULT_STORAGE
from search._pruners import ChanceLevelPruner, NoiseTolerantPruner

if TYPE_CHECKING:  # spaces imports Keras and TensorFlow, not needed to open a storage
    from spaces import Space

__all__ = [
    "DEFAULT_STORAGE",
    "PRUNERS",
    "SAMPLERS",
    "StorageError",
    "enqueue_presets",
    "make_pruner",
    "make_sampler",
    "multiply_adds",
    "open_storage",
    "open_study",
    "redact",
]

_log = logging.getLogger(__name__)


#: how often a running trial proves it is alive, and after how long without a sign it is failed
#: (defaults; ``$SEARCH_HEARTBEAT_SECONDS`` and ``$SEARCH_GRACE_SECONDS`` override them)
HEARTBEAT_SECONDS = DEFAULT_HEARTBEAT_SECONDS
GRACE_SECONDS = DEFAULT_GRACE_SECONDS
#: how often a trial whose worker died is retried
MAX_RETRY = 2


class StorageError(Exception):
    """The study storage cannot be opened: malformed URL, unreachable server, unusable file."""


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, for logs and tags."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1] if "@" in url else url


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """Open an Optuna storage URL (any SQLAlchemy database URL, or ``journal:///path``).

    Relational storages get Optuna's heartbeat, so a trial whose worker died is marked failed
    and retried (:class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`). SQLite gets a long busy
    timeout, so several local processes and a watching dashboard do not fail with
    "database is locked".

    Raises:
        StorageError: with a one-line reason (the password never appears in it).
    """
    safe = redact(url)
    if url.startswith("journal://"):
        path = url.removeprefix("journal://")
        if not path:
            raise StorageError(f"malformed journal storage URL {safe!r}: use journal:///path/to/file.log")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(path))
        except OSError as exc:
            raise StorageError(f"cannot open journal storage {safe}: {exc}") from None
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        raise StorageError(f"malformed storage URL {safe!r} (expected e.g. {DEFAULT_STORAGE})") from None
    engine_kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            folder = Path(database).parent
            if url == DEFAULT_STORAGE:
                folder.mkdir(parents=True, exist_ok=True)
            if not folder.is_dir():
                raise StorageError(f"cannot open {safe}: folder {folder} does not exist")
        engine_kwargs["connect_args"] = {"timeout": 120}
    else:
        engine_kwargs["pool_pre_ping"] = True
        if parsed.get_backend_name() == "postgresql":
            engine_kwargs["connect_args"] = {"connect_timeout": 10}
    try:  # $SEARCH_HEARTBEAT_SECONDS / $SEARCH_GRACE_SECONDS override the defaults (tests)
        heartbeat, grace = heartbeat_seconds(), grace_seconds()
    except ValueError as exc:
        raise StorageError(str(exc)) from None
    def rdb() -> optuna.storages.RDBStorage:
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            grace_period=grace,
            # closes a dead trial's MLflow run as KILLED, then queues the retry (which resumes
            # from the trial's checkpoint and sees its epochs' intermediate values)
            heartbeat_stale_trial_callback=CloseRunAndRetry(
                max_retry=MAX_RETRY, inherit_intermediate_values=True
            ),
        )

    try:
        try:
            return rdb()
        except (sqlalchemy_exc.IntegrityError, sqlalchemy_exc.ProgrammingError):  # another process
            # created the tables at the same moment (several machines starting on an empty database)
            time.sleep(1.0)
            return rdb()
    except ImportError as exc:
        raise StorageError(f"cannot open {safe}: missing database driver ({exc.name})") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {safe}: {first}".replace(url, safe)) from None


SAMPLERS: dict[str, Callable[[int | None, bool], optuna.samplers.BaseSampler]] = {
    # multivariate TPE models the knobs jointly; constant_liar keeps parallel workers apart
    "tpe": lambda seed, multi: optuna.samplers.TPESampler(
        seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=8
    ),
    "random": lambda seed, multi: optuna.samplers.RandomSampler(seed=seed),
    "cmaes": lambda seed, multi: optuna.samplers.CmaEsSampler(
        seed=seed, warn_independent_sampling=False
    ),
    "gp": lambda seed, multi: optuna.samplers.GPSampler(seed=seed),
    "qmc": lambda seed, multi: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
    "nsga2": lambda seed, multi: optuna.samplers.NSGAIISampler(seed=seed),
}

#: Successive halving (asynchronous, one bracket; rungs after epochs 2, 4 and 10) is the default,
#: keeping trials that tie with the best within the noise of the validation accuracy
#: (:class:`~search._pruners.NoiseTolerantPruner`). All but ``none`` also prune a trial at chance
#: level after any epoch (:class:`~search._pruners.ChanceLevelPruner`). That wrapper also changes
#: what Hyperband does to the sampler: alone, Optuna's Hyperband makes every sampler see only the
#: trials of the bracket a new trial falls in, so TPE's 8 start-up trials become 8 per bracket
#: (24 with 10 epochs), and a search of tens of trials hardly leaves random sampling (measured on
#: ``lenet``: 18 of 25 trials were random draws; README, Benchmarks). Wrapped, it prunes by its
#: brackets and the sampler learns from every trial, pruned ones ranked by the epoch they reached,
#: as BOHB's model and Ray Tune's Hyperband with a searcher do. Each factory takes the maximum
#: epochs, the number of validation images and the number of classes.
PRUNERS: dict[str, Callable[[int, int, int], optuna.pruners.BasePruner]] = {
    "hyperband": lambda max_epochs, val_images, classes: ChanceLevelPruner(
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs, reduction_factor=3),
        classes,
        val_images,
    ),
    "median": lambda max_epochs, val_images, classes: ChanceLevelPruner(
        optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=1), classes, val_images
    ),
    "successive-halving": lambda max_epochs, val_images, classes: ChanceLevelPruner(
        NoiseTolerantPruner(optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3), val_images),
        classes,
        val_images,
    ),
    "none": lambda max_epochs, val_images, classes: optuna.pruners.NopPruner(),
}


def make_sampler(name: str, seed: int | None, multi_objective: bool) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (see :data:`SAMPLERS`)."""
    if name == "gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            raise ValueError("--sampler gp needs PyTorch: pip install '.[gp]'") from None
    return SAMPLERS[name](seed, multi_objective)


def make_pruner(name: str, max_epochs: int, val_images: int, num_classes: int) -> optuna.pruners.BasePruner:
    """The pruner called ``name`` (see :data:`PRUNERS`) for trials of up to ``max_epochs`` epochs
    validated on ``val_images`` images of ``num_classes`` classes."""
    return PRUNERS[name](max_epochs, val_images, num_classes)


def open_study(
    storage: optuna.storages.BaseStorage,
    name: str,
    *,
    directions: Sequence[optuna.study.StudyDirection],
    sampler: optuna.samplers.BaseSampler,
    pruner: optuna.pruners.BasePruner,
    attrs: dict[str, Any],
) -> optuna.Study:
    """Create the study, or resume it when it exists with the same family, data and objectives.

    Raises:
        ValueError: the existing study was made for another family, data set or objectives.
    """
    try:
        existing = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        existing = None
    if existing is not None:
        for key in ("family", "dataset"):
            old = existing.user_attrs.get(key)
            if old is not None and old != attrs[key]:
                raise ValueError(
                    f"study {name!r} was made for {key} {old!r}, not {attrs[key]!r}: "
                    "choose another --study-name"
                )
        if list(existing.directions) != list(directions):
            raise ValueError(
                f"study {name!r} has other objectives ({len(existing.directions)}): "
                "choose another --study-name"
            )
        _log.info("resuming study %s (%d trials so far)", name, len(existing.trials))
        return existing
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        directions=list(directions),
        load_if_exists=True,
    )
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    return study


def multiply_adds(model: Any) -> int:
    """About how many multiply-adds ``model`` does per image: each layer's kernel once per output
    position (a convolution's height x width, a dense layer's one, a recurrent layer's time steps
    when it returns them). A measure of training cost that needs no training."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            total += multiply_adds(layer)
            continue
        kernels = [w for w in layer.weights if "kernel" in w.path]
        if not kernels:
            continue
        shape = layer.output.shape if hasattr(layer, "output") else (None, 1)
        positions = 1
        for dim in shape[1:-1]:
            positions *= int(dim or 1)
        total += positions * sum(int(np.prod(w.shape)) for w in kernels)
    return total


def enqueue_presets(
    study: optuna.Study, space: Space, dataset: str, input_shape: tuple[int, ...], num_classes: int
) -> list[str]:
    """Put the family's presets for ``dataset`` first in the study, once each, the cheapest to train
    first (:func:`multiply_adds`), so the pruner has their scores when a costly one reaches its
    first rung; returns their names in that order."""
    done = {t.user_attrs.get("preset") for t in study.get_trials(deepcopy=False)}
    presets = [p for p in space.presets.values() if p.dataset == dataset and p.name not in done]

    def cost(preset: Any) -> int:
        candidate = space.from_params(preset.params)
        return multiply_adds(space.build_model(candidate, input_shape, num_classes))

    queued = []
    for preset in sorted(presets, key=cost):
        study.enqueue_trial(dict(preset.params), user_attrs={"preset": preset.name})
        queued.append(preset.name)
    return queued
