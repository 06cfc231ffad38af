"""benchmarks/simulate: the platform's search code on recorded curves and a virtual clock.

The curves here are generated (a saturating curve per configuration, its ceiling drawn from the
configuration's id), so the tests run in seconds; the real recordings are benchmarks/curves/.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from benchmarks.curves import CurveRecord, config_id
from benchmarks.curves.collect import draw_configs
from benchmarks.simulate import (
    ReplayTrainer,
    Surrogate,
    ValidationDraw,
    simulate_optuna_user,
    simulate_platform,
)
from benchmarks.simulate.__main__ import main, make_run_options
from search.core import VirtualClock
from search.data import dataset_from_arrays
from search.training import TrialTimeBudget
from spaces import get_space

FAMILY = "lenet"


def _record(source: str, params: dict, *, epochs: int = 6, seconds: float = 4.0) -> CurveRecord:
    rng = random.Random(config_id(FAMILY, params))
    ceiling = 0.93 if source.startswith("doc") else rng.uniform(0.5, 0.9)
    val = [round(ceiling * (1 - math.exp(-(e + 1) / 2)), 4) for e in range(epochs)]
    return CurveRecord(
        id=config_id(FAMILY, params), family=FAMILY, source=source, params=params, status="ok", epochs=epochs,
        max_epochs=epochs, param_count=60_000, multiply_adds=400_000 + rng.randrange(400_000), batch_size=64,
        val_accuracy=val, val_loss=[1 - v for v in val], train_loss=[1 - v for v in val],
        test_accuracy=[v - 0.01 for v in val], epoch_seconds=[seconds * rng.uniform(0.5, 2.0)] * epochs,
        data={"name": "generated", "train": 5400, "val": 600, "test": 1000},
    )  # fmt: skip


@pytest.fixture(scope="module")
def surrogate() -> Surrogate:
    records = [_record(s, p) for s, p in draw_configs(FAMILY, 40, seed=1)]
    return Surrogate(records, get_space(FAMILY).describe())


@pytest.fixture(scope="module")
def data():  # the split's sizes are what the search reads; the pixels are never trained on
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (6000, 28, 28), dtype=np.uint8)
    y = np.arange(6000) % 10
    return dataset_from_arrays(x, y, x[:1000], y[:1000], name="generated", val_fraction=0.1, seed=0)


def test_every_recorded_point_is_its_own_nearest_and_others_go_to_the_closest(surrogate: Surrogate) -> None:
    for record in surrogate.records:
        assert surrogate.nearest(record.params) == (record, 0.0)
    preset = next(r for r in surrogate.records if r.source.startswith("doc"))
    moved = {**preset.params, "dropout": min(0.5, float(preset.params.get("dropout", 0.0)) + 0.01)}
    found, distance = surrogate.nearest(moved)
    assert found is preset and 0 < distance < 0.1


def test_the_vectorised_nearest_is_the_plain_minimum_of_the_distance(surrogate: Surrogate) -> None:
    for _, params in draw_configs(FAMILY, 70, seed=2)[len(get_space(FAMILY).presets) :]:
        found, distance = surrogate.nearest(params)
        plain = min(surrogate.distance(params, r.params) for r in surrogate.records)
        assert distance == pytest.approx(plain) and surrogate.distance(params, found.params) == pytest.approx(plain)


def test_the_trial_time_budget_stops_a_replayed_trial_at_the_virtual_search_end(surrogate: Surrogate, data) -> None:
    """The platform's own time budget, driven by replayed batches on virtual time: a trial that
    would train past the search end stops there, keeping the epochs it finished."""
    clock = VirtualClock()
    trainer = ReplayTrainer(surrogate, clock)
    space = get_space(FAMILY)
    record = surrogate.records[0]
    candidate = space.from_params(record.params)
    model = trainer.build(space, candidate, data, params=record.params)
    per_epoch = record.epoch_seconds[0]
    budget = TrialTimeBudget(deadline=2.5 * per_epoch, clock=clock)
    result = trainer.fit(space, candidate, data, max_epochs=6, callbacks=[budget], model=model)
    assert budget.stopped and result.epochs_run == 3  # two whole epochs, the third cut at the deadline
    assert clock.now() == pytest.approx(2.5 * per_epoch, abs=per_epoch / 4)


@pytest.mark.parametrize("options", [make_run_options(), [*make_run_options(), "--refit"]])
def test_a_simulated_search_keeps_its_budget_and_is_the_same_for_the_same_seed(surrogate: Surrogate, data, options) -> None:
    runs = [simulate_platform(surrogate, data, FAMILY, options, budget=300.0, seed=s) for s in (3, 3, 4)]
    assert runs[0] == runs[1]  # paired seeds: the same search again
    for outcome in runs:
        assert outcome.test_accuracy is not None and outcome.complete >= 1
        assert 1 <= outcome.configs <= outcome.trials  # distinct recorded configurations it trained
        # search, refit and all within --timeout, but for the replayed batch during which it passed
        # (a trial stops after it) and the builds that started before it
        batch = max(max(r.epoch_seconds) for r in surrogate.records) / 8
        assert outcome.seconds <= 300.0 + batch
    refit = "--refit" in options
    assert all((o.refit_epochs is not None) == refit for o in runs[:2])


def test_a_faster_machine_trains_more_and_a_budget_too_short_for_any_epoch_completes_nothing(surrogate: Surrogate, data) -> None:
    slow = simulate_platform(surrogate, data, FAMILY, make_run_options(), budget=300.0, seed=0, speed=0.25)
    fast = simulate_platform(surrogate, data, FAMILY, make_run_options(), budget=300.0, seed=0, speed=4.0)
    assert fast.trials > slow.trials
    nothing = simulate_platform(surrogate, data, FAMILY, make_run_options(), budget=1.0, seed=0)
    assert nothing.test_accuracy is None and nothing.complete == 0


def test_an_optuna_user_script_is_never_stopped_by_the_platforms_rules(surrogate: Surrogate, data) -> None:
    """Every trial of a peer trains to its end or its pruner; it is scored on what finished by the budget."""
    outcome = simulate_optuna_user(surrogate, data, FAMILY, sampler="random", pruner="none", budget=200.0, seed=0, max_epochs=6)
    assert outcome.complete >= 1 and outcome.pruned == 0
    assert outcome.seconds >= 200.0  # the trial running at the budget was trained to its end
    assert all(t <= 200.0 for t, _ in outcome.curve)


def test_the_benchmark_reads_make_runs_own_options() -> None:
    makefile = Path(__file__).resolve().parents[3] / "Makefile"
    assert f"run: ARGS ?= --timeout 20m {' '.join(make_run_options())}" in makefile.read_text()


BAD_ARGUMENTS = [
    pytest.param(["--curves", "{tmp}/none.jsonl.gz"], id="no-curve-file"),
    pytest.param(["--seeds", "0"], id="no-seeds"),
    pytest.param(["--validation-images", "0"], id="empty-validation-split"),
    pytest.param(["--report", "--results", "{tmp}/missing.jsonl"], id="report-of-no-file"),
    pytest.param(["--report", "--validation-images", "6000"], id="report-of-no-matching-search"),
]


@pytest.mark.parametrize("argv", BAD_ARGUMENTS)
def test_bad_arguments_exit_2_with_one_line_and_store_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps({"method": "make-run", "speed": 1.0, "budget_minutes": 20.0, "seed": 0}) + "\n")
    before = results.read_text()
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main([*argv, *([] if "--results" in argv else ["--results", str(results)])]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert results.read_text() == before
    assert not list(tmp_path.glob("*.html"))


def test_a_drawn_validation_split_is_paired_centred_on_the_test_accuracy_and_at_its_resolution(
    surrogate: Surrogate,
) -> None:
    record, epoch, images = surrogate.records[0], 3, 6000
    draws = [ValidationDraw(images, seed)(record, epoch) for seed in range(400)]
    assert draws[:5] == [ValidationDraw(images, seed)(record, epoch) for seed in range(5)]  # the same seed, the same split
    assert all(round(d * images) == pytest.approx(d * images) for d in draws)  # a count of the split's images
    p = record.test_accuracy[epoch]
    mean, sd = sum(draws) / len(draws), math.sqrt(p * (1 - p) / images)
    assert abs(mean - p) < 4 * sd / math.sqrt(len(draws)) and len(set(draws)) > 20
    assert ValidationDraw(images, 0)(record, epoch) != ValidationDraw(images, 0)(record, epoch + 1) or p == 0


@pytest.mark.parametrize("method", ["platform", "optuna", "keras-tuner"])
def test_every_method_validates_on_the_drawn_split_when_given_one(surrogate: Surrogate, data, method: str) -> None:
    from benchmarks.simulate import simulate_keras_tuner

    search = {
        "platform": lambda **kw: simulate_platform(surrogate, data, FAMILY, make_run_options(), **kw),
        "optuna": lambda **kw: simulate_optuna_user(surrogate, data, FAMILY, sampler="random", pruner="none", **kw),
        "keras-tuner": lambda **kw: simulate_keras_tuner(surrogate, data, FAMILY, tuner="hyperband", **kw),
    }[method]
    recorded = search(budget=300.0, seed=0)
    drawn = search(budget=300.0, seed=0, validation_images=6000)
    assert drawn == search(budget=300.0, seed=0, validation_images=6000)
    recorded_values = {v for r in surrogate.records for v in r.val_accuracy}
    assert drawn.val_accuracy is not None and drawn.val_accuracy not in recorded_values
    assert round(drawn.val_accuracy * 6000) == pytest.approx(drawn.val_accuracy * 6000)
    assert recorded.val_accuracy in recorded_values


@pytest.mark.parametrize("tuner", ["hyperband", "bayesian"])
def test_a_keras_tuner_user_search_on_recorded_curves(surrogate: Surrogate, data, tuner: str) -> None:
    from benchmarks.simulate import simulate_keras_tuner

    outcome = simulate_keras_tuner(surrogate, data, FAMILY, tuner=tuner, budget=200.0, seed=0, max_epochs=6)
    again = simulate_keras_tuner(surrogate, data, FAMILY, tuner=tuner, budget=200.0, seed=0, max_epochs=6)
    assert outcome == again and outcome.complete >= 1 and outcome.test_accuracy is not None
    given = simulate_keras_tuner(surrogate, data, FAMILY, tuner=tuner, budget=200.0, seed=0, max_epochs=6, presets=True)
    assert given != outcome and given.complete >= 1  # the presets are its first points
    assert not outcome.final_is_preset  # a draw of its own never matched a preset's values


def test_the_command_runs_paired_seeds_in_worker_processes_and_resumes(
    keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.curves import pack
    from benchmarks.curves._records import write_pending

    curves = tmp_path / "lenet.jsonl.gz"
    for source, params in draw_configs(FAMILY, 30, seed=1):
        record = _record(source, params)
        record.data = {"name": "fashion_mnist", "limit": 600, "seed": 0}
        write_pending(curves, record)
    pack(curves)
    results = tmp_path / "simulate.jsonl"
    args = ["--curves", str(curves), "--results", str(results), "--seeds", "2", "--speeds", "1",
            "--budgets", "5", "--methods", "make-run", "random+presets", "--workers", "2"]  # fmt: skip
    assert main(args) == 0
    lines = results.read_text().splitlines()
    assert len(lines) == 4  # 2 seeds x 2 methods
    out = capsys.readouterr().out
    assert "| make-run | random+presets |" in out and (tmp_path / "simulate.html").is_file()
    assert main(args) == 0 and len(results.read_text().splitlines()) == 4  # nothing run twice


def test_a_record_taken_on_a_slower_moment_is_rescaled_by_its_probe(data) -> None:
    """Two recordings of the same work, one while the machine was twice as slow (its probe took
    twice as long): replayed, both take the reference machine's time."""
    (s1, p1), (s2, p2) = draw_configs(FAMILY, 2, seed=1)
    fast, slow = _record(s1, p1), _record(s2, p2)
    fast.epoch_seconds, slow.epoch_seconds = [4.0] * 6, [8.0] * 6
    fast.probe_seconds, slow.probe_seconds = 2.0, 4.0
    surrogate = Surrogate([fast, slow], get_space(FAMILY).describe())
    space = get_space(FAMILY)
    times = []
    for record in (fast, slow):
        clock = VirtualClock()
        trainer = ReplayTrainer(surrogate, clock)
        candidate = space.from_params(record.params)
        model = trainer.build(space, candidate, data, params=record.params)
        trainer.fit(space, candidate, data, max_epochs=2, model=model)
        times.append(clock.now())
    assert times[0] == pytest.approx(times[1])


def test_every_build_costs_virtual_time_so_a_refused_trial_is_not_free(surrogate: Surrogate, data) -> None:
    """A trial refused before it trains still costs its build: without it a search refusing every
    candidate never reached its end on the virtual clock."""
    clock = VirtualClock()
    trainer = ReplayTrainer(surrogate, clock, speed=2.0, build_seconds=0.5)
    space = get_space(FAMILY)
    record = surrogate.records[0]
    trainer.build(space, space.from_params(record.params), data, params=record.params)
    assert clock.now() == pytest.approx(0.25)


def test_the_policy_given_reaches_the_clock_and_the_refit(surrogate: Surrogate, data) -> None:
    """An ablation's policy is the one the search runs: with no share of --timeout for the refit,
    the search keeps no time for it and the trial's own model is the final one."""
    from dataclasses import replace

    from search.policy import DEFAULT_TIME_POLICY

    options = [*make_run_options(), "--refit"]
    default = simulate_platform(surrogate, data, FAMILY, options, budget=300.0, seed=3)
    starved = simulate_platform(surrogate, data, FAMILY, options, budget=300.0, seed=3,
                                policy=replace(DEFAULT_TIME_POLICY, max_refit_share=0.0))  # fmt: skip
    assert default.refit_epochs is not None and starved.refit_epochs is None


@pytest.mark.parametrize("prior_options", [{"global": "uniform"}, {"global_share": 0.95}])
def test_a_sampler_ablation_reaches_the_prior_sampler(surrogate: Surrogate, data, prior_options: dict) -> None:
    default = simulate_platform(surrogate, data, FAMILY, make_run_options(), budget=600.0, seed=3)
    changed = simulate_platform(surrogate, data, FAMILY, make_run_options(), budget=600.0, seed=3, prior_options=prior_options)
    assert changed != default and changed.complete >= 1
    assert changed == simulate_platform(surrogate, data, FAMILY, make_run_options(), budget=600.0, seed=3,
                                        prior_options=prior_options)  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b", "record", "median_diff", "by_validation"),
    [
        # equal at the test set's resolution is a tie, whatever the float noise
        ([0.8, 0.9, 0.7], [0.8000001, 0.85, 0.75], (1, 1, 1), 0, "1-1-1"),
        # a search that completed nothing is neither a win nor a loss
        ([None, 0.9, 0.9], [0.5, 0.8, 0.7], (2, 0, 0), 150, "2-0-0"),
    ],
)
def test_paired_comparisons_count_ties_at_the_test_sets_resolution(a, b, record, median_diff, by_validation) -> None:
    from benchmarks.simulate.__main__ import _compare, _validation_record

    c = _compare(a, b, test_images=1000)
    assert (c["wins"], c["ties"], c["losses"]) == record and c["median_diff"] == median_diff
    assert _validation_record(a, b) == by_validation
