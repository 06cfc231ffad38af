"""benchmarks/neps_priorband.py: the family's space as NePS sees it, and a short real PriorBand run.

NePS is an optional benchmark extra (``pip install -e '.[bench]'``): without it these tests skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("neps", reason="NePS (the 'bench' extra) is not installed")

from benchmarks.neps_priorband import FIDELITY, _knobs, neps_space, prior_preset, run_priorband  # noqa: E402
from search.data import load_dataset  # noqa: E402
from spaces import FixedParams, get_space  # noqa: E402


@pytest.mark.parametrize("family", ["lenet", "cnn"])
def test_every_preset_survives_the_round_trip_through_neps_values(family: str) -> None:
    space = get_space(family)
    knobs, _ = _knobs(space)
    for preset in space.presets.values():
        back = {
            name: knobs[name].from_neps(knobs[name].to_neps(value)) if name in knobs else value
            for name, value in preset.params.items()
        }
        assert space.from_params(back) == space.from_params(preset.params)


def test_the_prior_is_the_chosen_preset_and_epochs_the_fidelity() -> None:
    from neps.space.neps_spaces.neps_space import convert_neps_to_classic_search_space

    space = get_space("cnn")
    preset = prior_preset(space)
    assert preset.name == "doc003_cnn_dropout07"
    classic = convert_neps_to_classic_search_space(neps_space(space, preset, max_epochs=6))
    assert classic is not None
    assert classic.fidelities[FIDELITY].upper == 6
    knobs, _ = _knobs(space)
    # NePS's own prior configuration, read back through the space, is the preset's candidate
    config = {name: p.prior if p.prior is not None else p.center for name, p in classic.searchables.items()}
    values = {name: knobs[name].from_neps(v) for name, v in config.items()} | {FIDELITY: 12}
    assert space.sample(FixedParams(values, strict=False)) == space.from_params(preset.params)
    # a parameter the preset's branch does not ask for has no prior (NePS samples it uniformly)
    assert classic.searchables["filters_4"].prior is None
    # a log-scale integer keeps its integers (NePS's default log base would leave 5 batch sizes)
    assert classic.searchables["batch_size"].domain.cardinality > 100


def test_a_short_run_starts_with_the_preset_and_records_every_evaluation(keras_home: Path, tmp_path: Path) -> None:
    data = load_dataset("fashion_mnist", val_fraction=0.1, limit=600, seed=0)
    records = run_priorband("lenet", data, seed=0, budget_seconds=25, max_epochs=3, root=tmp_path)
    assert records
    first = records[0]
    assert first["preset"] and first["state"] == "complete" and first["fidelity"] == 1
    seconds = [r["seconds"] for r in records]
    assert seconds == sorted(seconds)
    for r in records:
        assert r["state"] in {"complete", "pruned", "failed", "unbuildable"}
        assert (r["val_accuracy"] is not None) == (r["state"] == "complete")
        if r["val_accuracy"] is not None:
            assert 0.0 <= r["val_accuracy"] <= 1.0 and 1 <= r["epochs"] <= r["fidelity"]
