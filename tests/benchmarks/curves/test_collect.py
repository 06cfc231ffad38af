"""benchmarks/curves: the recorded learning-curve benchmark and its resumable collection."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from benchmarks.curves import CurveRecord, config_id, load_curves, pack
from benchmarks.curves._records import pending_dir, write_pending
from benchmarks.curves.collect import draw_configs, main
from spaces import get_space


def test_the_configurations_are_the_presets_then_prior_and_uniform_draws_the_same_each_time() -> None:
    configs = draw_configs("cnn", 12, seed=3)
    presets = list(get_space("cnn").presets)
    assert [s for s, _ in configs[: len(presets)]] == presets
    assert {s for s, _ in configs[len(presets) :]} == {"prior", "uniform"}
    assert len({config_id("cnn", p) for _, p in configs}) == 12  # no configuration twice
    assert draw_configs("cnn", 12, seed=3) == configs  # a stopped collection resumes the same list
    assert draw_configs("cnn", 12, seed=4) != configs
    space = get_space("cnn")
    for _, params in configs:
        space.from_params(params)  # every draw is a point of the space


def _record(i: int) -> CurveRecord:
    return CurveRecord(id=f"id{i}", family="cnn", source="uniform", params={"i": i}, status="ok", val_accuracy=[0.5, 0.6])


def test_pending_records_are_read_packed_and_a_torn_file_keeps_what_it_holds(tmp_path: Path) -> None:
    out = tmp_path / "cnn.jsonl.gz"
    for i in range(3):
        write_pending(out, _record(i))
    assert sorted(r.id for r in load_curves(out)) == ["id0", "id1", "id2"]
    assert pack(out) == 3 and not pending_dir(out).exists()
    first = out.read_bytes()
    write_pending(out, _record(3))
    assert pack(out) == 4
    assert pack(out) == 4 and out.read_bytes() != first  # deterministic bytes for the same records
    whole = out.read_bytes()
    assert pack(out) == 4 and out.read_bytes() == whole
    loaded = {r.id: r for r in load_curves(out)}
    assert loaded["id3"].val_accuracy == [0.5, 0.6] and loaded["id3"].best_epoch == 1
    write_pending(out, _record(5))
    torn = pending_dir(out) / "torn.json"
    torn.write_text('{"id": "id6", "fam')  # a record still being written, or damaged
    assert pack(out) == 5 and torn.exists()  # only what was folded in is deleted
    torn.unlink()
    out.write_bytes(gzip.compress(b"".join((_record(i).to_json() + "\n").encode() for i in range(4)))[:-30])
    assert 0 < len(load_curves(out)) <= 4  # the records before the tear


def test_a_collection_records_every_configuration_and_the_same_command_resumes(
    keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "lenet.jsonl.gz"
    args = ["--family", "lenet", "--configs", "3", "--limit", "300", "--max-epochs", "2", "--out", str(out)]
    assert main(args) == 0
    records = load_curves(out)
    assert len(records) == 3 and records[0].family == "lenet"
    for r in records:
        assert r.status == "ok", r.reason
        assert r.epochs == min(r.params["epochs"], 2)
        assert len(r.val_accuracy) == len(r.test_accuracy) == len(r.epoch_seconds) == r.epochs
        assert all(0.0 <= a <= 1.0 for a in r.val_accuracy + r.test_accuracy)
        assert r.param_count and r.multiply_adds and r.batch_size and r.probe_seconds
        assert r.data["train"] == 270 and r.data["limit"] == 300
        assert r.subset_images is None  # under 10,000 training images: no first-epoch subset
    assert main([*args[:3], "4", *args[4:]]) == 0  # one more: only it trains
    assert "3 already recorded, 1 to go" in capsys.readouterr().out
    assert len(load_curves(out)) == 4


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--family", "lenet", "--configs", "0", "--out", str(tmp_path / "x.jsonl.gz")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "x.jsonl.gz").exists()
