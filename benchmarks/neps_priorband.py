"""NePS PriorBand on a family's space, with the documents' best preset as its prior: the external
baseline of ``benchmarks/search_efficiency.py`` (issue 19).

    python benchmarks/neps_priorband.py --family lenet --budget 90 --limit 10000 --max-epochs 6 --seed 0

NePS (``neural-pipeline-search``, 0.17) is an optional benchmark extra (``pip install -e
'.[bench]'``), never a dependency of the platform: nothing under ``search/`` or ``spaces/`` imports
it, and this module imports it only when :func:`run_priorband` runs.

**The space.** Every parameter the family can declare (:meth:`spaces.Space.describe`) becomes one
NePS parameter, except ``epochs``, which is the fidelity (``IntegerFidelity(1, max_epochs)``; each
evaluation trains the candidate for that many epochs). Choices become ``Categorical``\\ s of their
indices (NePS 0.17 turns a categorical's choices into a ``set`` when it converts the space for
PriorBand, so strings would be reordered by Python's per-process hash seed and the same seed would
not give the same run; small integers keep their order), integers stay ``Integer`` (log scale where
the space has it), floats on a step grid (dropout, shift) become ``Integer`` indices of the grid,
other floats stay ``Float``. A configuration is read back through :class:`spaces.FixedParams` (not
strict), so the space asks for exactly the parameters of its branch and range-checks them.

**Conditional parameters.** NePS 0.17's PriorBand works on a flat box. It gets every parameter of
every branch (e.g. ``filters_4`` although only a 5-block cnn uses it, ``momentum`` although only
SGD reads it); the space asks only for the ones its branch needs and ignores the rest, so an
inactive parameter changes nothing (and its value in NePS's records means nothing). PriorBand's
incumbent mutation may change an inactive parameter only, which re-evaluates the same model; that
is a cost of the flat box that the platform's define-by-run samplers do not pay.

**The prior.** PriorBand takes one prior configuration: the family's preset in
:data:`PRIOR_PRESETS` (cnn: ``doc003_cnn_dropout07``, the documents' CNN 003, the best
configuration of every 20-minute, 60-minute and 2-hour run in ``docs/benchmarks.md``, validation
0.9278), else its first preset (lenet: ``doc000_lenet5``, its only one). Each parameter the preset
sets gets it as ``prior`` with ``prior_confidence``, ``"high"`` by default: in NePS 0.17 that is a
truncated normal of std 0.25 of the parameter's unit range and 0.75 of the probability on the
preset's choice (``"medium"``: std 0.5, nearly flat, and 0.5), the closest level to the platform's
own prior sampler (std 0.15, keep 0.7; ``search/samplers/_prior.py``). Parameters the preset's
branch never asks for (cnn 003 has two blocks: ``filters_2`` .. ``_4``; ``momentum``,
``label_smoothing``, ``weight_decay``) have no prior, which NePS samples uniformly.
``sample_prior_first=True``: the first evaluation is the preset itself, as ``--enqueue-presets``
starts the platform's search with the presets; NePS runs it at the fidelity's lower bound (1
epoch), not at its lowest rung. The rungs are ``max_epochs / eta**i`` epochs, rounded down (eta 3:
2 and 6 epochs for ``max_epochs`` 6; 1, 3 and 10 for 10).

**An evaluation** trains with the platform's own code (:func:`search.training.fit_candidate`,
``max_epochs`` = the fidelity) under :class:`search.training.TrialTimeBudget` with the run's
deadline, so nothing trains past ``budget_seconds``. It returns ``1 - best validation accuracy``
as ``objective_to_minimize``. A promotion (NePS passes ``previous_pipeline_directory``) continues
the lower rung's model from its last epoch (saved with its optimizer state), as Optuna's
successive halving and keras-tuner's Hyperband continue theirs; its accuracy is the best over all
its epochs. A configuration that cannot be built, fails in training (e.g. a diverging loss) or was
stopped by the deadline before its first epoch ended is reported with objective 1.0 (no correct
answer): PriorBand ranks it below every model that trained.

**The wall budget.** NePS 0.17 has no wall-clock stop for ``neps.run`` (its worker setting is
"not user-settable yet"). Each evaluation therefore reports as its ``cost`` the wall seconds since
the previous one ended (the first: since the run started), NePS's sampling included, and
``total_cost_to_spend=budget_seconds``: NePS starts no evaluation once the costs sum to the budget,
i.e. once the wall budget is spent, and the deadline stops the one running then.

**Seeds.** NePS has no seed argument: it snapshots the global Python, NumPy and torch generators
when the run starts and restores them before every draw. :func:`run_priorband` seeds all three
from ``seed`` first; evaluation ``k`` then trains with ``keras.utils.set_random_seed(seed + k)``
(as the platform's trial ``k`` does). The caller passes ``data``, so seed k gives the same split as
every other method.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from search.core import start_tensorflow  # noqa: E402

start_tensorflow()  # before Keras is imported: TensorFlow's start-up lines kept off stderr

import keras  # noqa: E402
import numpy as np  # noqa: E402

from search.data import Dataset, load_dataset  # noqa: E402
from search.training import OverBudget, TrialTimeBudget, fit_candidate, prepare_model  # noqa: E402
from spaces import (  # noqa: E402
    Candidate,
    ChoiceParam,
    FixedParams,
    FloatParam,
    IntParam,
    InvalidParamsError,
    Param,
    Preset,
    Space,
    UnbuildableError,
    get_space,
)

__all__ = ["FIDELITY", "PRIOR_PRESETS", "neps_space", "prior_preset", "run_priorband"]

_log = logging.getLogger("search.benchmarks")

#: the preset each family gives PriorBand as its prior (a family not listed: its first preset)
PRIOR_PRESETS = {"cnn": "doc003_cnn_dropout07"}
#: the space's parameter that NePS's fidelity replaces
FIDELITY = "epochs"
#: the objective of an evaluation that trained no epoch (unbuildable, failed, out of time)
WORST = 1.0
_MODEL_FILE, _STATE_FILE = "model.keras", "state.json"


def prior_preset(space: Space, name: str | None = None) -> Preset:
    """The preset PriorBand is centred on: ``name``, else :data:`PRIOR_PRESETS`, else the first.

    Raises:
        ValueError: the space has no presets, or none called ``name``.
    """
    if not space.presets:
        raise ValueError(f"space {space.name!r} has no presets: PriorBand needs a prior")
    name = name or PRIOR_PRESETS.get(space.name) or next(iter(space.presets))
    if name not in space.presets:
        raise ValueError(f"space {space.name!r} has no preset {name!r}; its presets: {', '.join(space.presets)}")
    return space.presets[name]


@dataclass(frozen=True)
class _Knob:
    """One parameter of the space as NePS sees it, and the way back."""

    param: Param  # the space's declaration

    @property
    def grid(self) -> int | None:
        """Number of steps of a stepped parameter (NePS gets the step's index), else None."""
        p = self.param
        if isinstance(p, IntParam) and p.step != 1:
            return (p.high - p.low) // p.step
        if isinstance(p, FloatParam) and p.step:
            return round((p.high - p.low) / p.step)
        return None

    def to_neps(self, value: Any) -> Any:
        """The NePS value (index, grid step or number) of a space value."""
        p = self.param
        if isinstance(p, ChoiceParam):
            return next(i for i, c in enumerate(p.choices) if c == p.check(value))
        if self.grid is not None:
            return round((p.check(value) - p.low) / p.step)  # type: ignore[operator]
        return p.check(value)

    def from_neps(self, value: Any) -> Any:
        """The space value of a NePS value."""
        p = self.param
        if isinstance(p, ChoiceParam):
            return p.choices[int(value)]
        if self.grid is not None:
            raw = p.low + int(value) * p.step  # type: ignore[operator]
            return int(raw) if isinstance(p, IntParam) else min(round(raw, 10), p.high)
        number = min(max(value, p.low), p.high)  # NePS's decoding may land a hair outside the range
        return round(number) if isinstance(p, IntParam) else float(number)

    def parameter(self, prior: Any | None, confidence: str) -> Any:
        """The NePS parameter, with ``prior`` (a space value) when given."""
        import neps

        extra = {} if prior is None else {"prior": self.to_neps(prior), "prior_confidence": confidence}
        p = self.param
        if isinstance(p, ChoiceParam):
            return neps.Categorical(tuple(range(len(p.choices))), **extra)
        if self.grid is not None:
            return neps.Integer(0, self.grid, **extra)
        if isinstance(p, IntParam) and p.log:
            # NePS 0.17 rounds a log-scale integer to round(log_base(high / low)) + 1 levels, e^1
            # apart by default (batch 8..512: 8, 23, 64, 181, 512; the presets' 128 is none of
            # them). A base this close to 1 gives one level per integer of the range: the same
            # log-uniform distribution, quantised as finely as Optuna's.
            base = math.exp(math.log(p.high / p.low) / (p.high - p.low))
            return neps.Integer(p.low, p.high, log=True, log_base=base, **extra)
        if isinstance(p, IntParam):
            return neps.Integer(p.low, p.high, **extra)
        return neps.Float(p.low, p.high, log=p.log, **extra)


def _knobs(space: Space) -> tuple[dict[str, _Knob], dict[str, Any]]:
    """The searched parameters, and the ones with a single possible value (fixed)."""
    knobs, fixed = {}, {}
    for name, param in space.describe().items():
        if name == FIDELITY:
            continue
        if isinstance(param, ChoiceParam) and len(param.choices) == 1:
            fixed[name] = param.choices[0]
        elif not isinstance(param, ChoiceParam) and param.low == param.high:
            fixed[name] = param.low
        else:
            knobs[name] = _Knob(param)
    return knobs, fixed


def neps_space(space: Space, preset: Preset, *, max_epochs: int, confidence: str = "high") -> Any:
    """The NePS ``PipelineSpace`` of ``space``: the full box, ``preset`` as the prior, and
    ``epochs`` as the fidelity in ``[1, max_epochs]`` (see the module docstring)."""
    import neps

    knobs, _ = _knobs(space)
    pipeline = neps.PipelineSpace()
    for name, knob in knobs.items():
        setattr(pipeline, name, knob.parameter(preset.params.get(name), confidence))
    setattr(pipeline, FIDELITY, neps.IntegerFidelity(1, max_epochs))
    return pipeline


def _comparable(candidate: Candidate) -> Candidate:
    """``candidate`` without its epoch count (the fidelity decides it)."""
    return dataclasses.replace(candidate, train=dataclasses.replace(candidate.train, epochs=0))


class _SaveLast(keras.callbacks.Callback):
    """Saves the model as its last epoch left it (optimizer state included), for a promotion to
    continue; before :func:`fit_candidate` puts the best epoch's weights back."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.model.save(self.path)


def run_priorband(
    family: str,
    data: Dataset,
    *,
    seed: int,
    budget_seconds: float,
    max_epochs: int,
    root: Path,
    preset: str | None = None,
    prior_confidence: str = "high",
    eta: int = 3,
) -> list[dict[str, Any]]:
    """Run NePS PriorBand on ``family`` for ``budget_seconds`` of wall time.

    Args:
        family: a model family (or any space spec :func:`spaces.get_space` resolves).
        data: the data set, split as every other method of the benchmark gets it for this seed.
        seed: seeds NePS's draws and each evaluation's training.
        budget_seconds: wall seconds from the start of the run; no training runs past it.
        max_epochs: the highest fidelity (epochs); the lowest is 1.
        root: NePS's results go to ``root/<family>-seed<seed>`` (replaced if it exists).
        preset: the preset used as the prior (default: :func:`prior_preset`'s choice).
        prior_confidence: NePS's ``"low"``, ``"medium"`` or ``"high"``.
        eta: PriorBand's (Hyperband's) reduction factor.

    Returns:
        One record per evaluation, in the order they finished: ``seconds`` (wall seconds since the
        run started, when it finished), ``val_accuracy`` (best over the model's epochs; None if it
        trained none), ``epochs`` (epochs the model has trained, = ``fidelity`` unless the deadline
        cut it), ``fidelity``, ``preset`` (the configuration is the prior preset's model and
        training), ``state`` (``complete``, ``failed``, ``unbuildable``, or ``pruned``: stopped by
        the deadline before an epoch ended), ``training_seconds`` (this evaluation's fit),
        ``resumed_from`` (epochs continued from the lower rung, 0 if trained from scratch),
        ``reason`` (why it did not complete) and ``params`` (the values the space used).

    Raises:
        ImportError: NePS is not installed.
        ValueError: the family has no such preset (or none at all).
    """
    try:
        import neps
    except ImportError as exc:
        raise ImportError("NePS is not installed: pip install -e '.[bench]'") from exc
    import torch

    space = get_space(family)
    prior = prior_preset(space, preset)
    knobs, fixed = _knobs(space)
    pipeline = neps_space(space, prior, max_epochs=max_epochs, confidence=prior_confidence)
    prior_candidate = _comparable(space.from_params({**prior.params, FIDELITY: max_epochs}))
    records: list[dict[str, Any]] = []
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    start = time.monotonic()
    deadline = start + budget_seconds
    last_end = start

    def evaluate(
        pipeline_directory: Path, previous_pipeline_directory: Path | None = None, **config: Any
    ) -> dict[str, Any]:
        nonlocal last_end
        fidelity = int(config.pop(FIDELITY))
        values = {**fixed, **{name: knob.from_neps(config[name]) for name, knob in knobs.items()}}
        values[FIDELITY] = fidelity
        record: dict[str, Any] = {
            "seconds": 0.0, "val_accuracy": None, "epochs": 0, "fidelity": fidelity, "preset": False,
            "state": "complete", "training_seconds": 0.0, "resumed_from": 0, "reason": None, "params": {},
        }  # fmt: skip
        accuracy = _train(record, values, Path(pipeline_directory), previous_pipeline_directory)
        now = time.monotonic()
        record["seconds"] = round(now - start, 3)
        cost, last_end = now - last_end, now
        records.append(record)
        _log.info(
            "neps %3d  %-11s  %d/%d epochs  val_acc %s  %.1fs%s%s", len(records), record["state"],
            record["epochs"], fidelity, f"{accuracy:.4f}" if accuracy is not None else "-", record["seconds"],
            "  [preset]" if record["preset"] else "", f"  ({record['reason']})" if record["reason"] else "",
        )  # fmt: skip
        objective = WORST if accuracy is None else 1.0 - accuracy
        return {"objective_to_minimize": objective, "cost": cost, "info_dict": {"state": record["state"]}}

    def _train(record: dict[str, Any], values: dict[str, Any], folder: Path, previous: Path | None) -> float | None:
        if time.monotonic() >= deadline:
            record.update(state="pruned", reason="the time budget ran out before it started")
            return None
        source = FixedParams(values, strict=False)
        try:
            candidate = space.sample(source)
        except InvalidParamsError as exc:
            record.update(state="unbuildable", reason=str(exc))
            return None
        record["params"] = {k: values[k] for k in sorted(source.used)}
        record["preset"] = _comparable(candidate) == prior_candidate
        keras.utils.set_random_seed(seed + len(records))
        model, initial_epoch, before = _resume(previous)
        try:
            if model is None:
                model = prepare_model(space, candidate, data)
        except UnbuildableError as exc:
            record.update(state="unbuildable", reason=str(exc))
            return None
        record["resumed_from"] = initial_epoch
        budget = TrialTimeBudget(deadline=deadline)
        callbacks: list[keras.callbacks.Callback] = [budget]
        if fidelity_below_max := values[FIDELITY] < max_epochs:
            folder.mkdir(parents=True, exist_ok=True)
            callbacks.append(_SaveLast(folder / _MODEL_FILE))
        began = time.perf_counter()
        try:
            result = fit_candidate(
                space, candidate, data, max_epochs=values[FIDELITY], callbacks=callbacks,
                model=model, initial_epoch=min(initial_epoch, values[FIDELITY] - 1),
            )  # fmt: skip
        except OverBudget as exc:
            record.update(state="pruned", reason=str(exc), training_seconds=round(time.perf_counter() - began, 3))
            return None
        except Exception as exc:  # a diverging loss, a model the machine cannot train: like the platform's failed trials
            text = (str(exc).strip().splitlines() or [""])[0]
            record.update(state="failed", reason=f"{type(exc).__name__}: {text}"[:300],
                          training_seconds=round(time.perf_counter() - began, 3))  # fmt: skip
            return None
        accuracy = max(result.val_accuracy, before)
        record.update(
            val_accuracy=round(accuracy, 6), epochs=initial_epoch + result.epochs_run,
            training_seconds=round(result.train_seconds, 3),
            reason="the time budget ended it early" if budget.stopped else None,
        )  # fmt: skip
        if fidelity_below_max:
            state = {"epochs": initial_epoch + result.epochs_run, "val_accuracy": accuracy}
            (folder / _STATE_FILE).write_text(json.dumps(state))
        return accuracy

    def _resume(previous: Path | None) -> tuple[keras.Model | None, int, float]:
        """The lower rung's model, its epochs and its best accuracy (None, 0, -inf: start over)."""
        if previous is None or not (Path(previous) / _STATE_FILE).exists():
            return None, 0, -math.inf
        state = json.loads((Path(previous) / _STATE_FILE).read_text())
        keras.backend.clear_session()
        try:
            model = keras.models.load_model(Path(previous) / _MODEL_FILE)
        except (OSError, ValueError) as exc:
            _log.warning("cannot continue from %s (%s): training from scratch", previous, exc)
            return None, 0, -math.inf
        return model, int(state["epochs"]), float(state["val_accuracy"])

    logging.getLogger("neps").setLevel(logging.WARNING)
    directory = Path(root) / f"{space.name}-seed{seed}"
    neps.run(
        evaluate,
        pipeline,
        root_directory=directory,
        overwrite_root_directory=True,
        optimizer=("priorband", {"sample_prior_first": True, "eta": eta}),
        total_cost_to_spend=budget_seconds,
    )
    return records


def main() -> None:
    from search.core import setup_logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="lenet", help="model family (default lenet)")
    parser.add_argument("--seed", type=int, default=0, help="data split, NePS's draws and training (default 0)")
    parser.add_argument("--budget", type=float, default=90.0, help="wall seconds (default 90)")
    parser.add_argument("--limit", type=int, help="images (default all)")
    parser.add_argument("--max-epochs", type=int, default=6, help="highest fidelity (default 6)")
    parser.add_argument("--dataset", help="default: the family's")
    parser.add_argument("--preset", help="the prior preset (default: cnn 003, else the family's first)")
    parser.add_argument("--prior-confidence", choices=("low", "medium", "high"), default="high")
    parser.add_argument("--eta", type=int, default=3, help="PriorBand's reduction factor (default 3)")
    parser.add_argument("--root", help="NePS's results folder (default: a temporary one)")
    args = parser.parse_args()
    setup_logging()
    if args.budget <= 0 or args.max_epochs < 1 or args.eta < 2:
        parser.error("--budget must be > 0, --max-epochs >= 1 and --eta >= 2")
    try:
        space = get_space(args.family)
        prior = prior_preset(space, args.preset)
    except (KeyError, ValueError) as exc:
        parser.error(str(exc).strip("'\""))
    data = load_dataset(args.dataset or space.default_dataset, val_fraction=0.1, limit=args.limit, seed=args.seed)
    _log.info("NePS PriorBand on %s, prior %s (%s confidence), %s, %.0f s, max %d epochs, seed %d",
              space.name, prior.name, args.prior_confidence, data.summary(), args.budget, args.max_epochs,
              args.seed)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        records = run_priorband(
            args.family, data, seed=args.seed, budget_seconds=args.budget, max_epochs=args.max_epochs,
            root=Path(args.root or tmp), preset=args.preset, prior_confidence=args.prior_confidence, eta=args.eta,
        )  # fmt: skip
    for record in records:
        _log.info("%s", json.dumps(record))
    done = [r for r in records if r["val_accuracy"] is not None]
    states = {s: sum(r["state"] == s for r in records) for s in ("complete", "pruned", "failed", "unbuildable")}
    _log.info("%d evaluations (%s) in %.0f s; %.0f s training, %.0f s on non-preset configurations",
              len(records), ", ".join(f"{n} {s}" for s, n in states.items() if n),
              records[-1]["seconds"] if records else 0.0, sum(r["training_seconds"] for r in records),
              sum(r["training_seconds"] for r in records if not r["preset"]))  # fmt: skip
    if done:
        best = max(done, key=lambda r: r["val_accuracy"])
        _log.info("best: val_acc %.4f at %.0f s, %d epochs%s", best["val_accuracy"], best["seconds"],
                  best["epochs"], " (the preset)" if best["preset"] else "")  # fmt: skip


if __name__ == "__main__":
    main()
