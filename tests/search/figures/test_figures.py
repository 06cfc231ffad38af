"""``search.figures``: confusion matrices, per-class scores, Markdown tables, and the learning-curve
and confusion figures (plotly traces, and PNG files opened with Pillow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from search.figures import (
    confusion_figure,
    confusion_matrix,
    confusion_png,
    learning_curves_figure,
    learning_curves_png,
    markdown_table,
    per_class_rows,
)

HISTORY = {
    "loss": [1.2, 0.8, 0.6],
    "val_loss": [1.3, 0.9, 0.7],
    "accuracy": [0.55, 0.7, 0.78],
    "val_accuracy": [0.5, 0.66, 0.74],
    "lr": [0.01, 0.01, 0.001],  # logged by a callback: not a panel's key
}


def test_confusion_matrix_counts_true_against_predicted() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    matrix = confusion_matrix(y_true, y_pred, num_classes=4)
    assert matrix.shape == (4, 4)
    expected = np.zeros((4, 4), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        expected[t, p] += 1
    np.testing.assert_array_equal(matrix, expected)
    assert matrix[0, 1] == 1 and matrix[1, 0] == 1 and matrix[1, 1] == 2
    assert matrix[3].sum() == 0 and matrix.sum() == len(y_true)


def test_per_class_rows_score_each_class_and_a_never_predicted_class_has_precision_zero() -> None:
    # class 0: 3 of 4 right, predicted 5 times; class 1: 1 of 2 right, predicted twice; class 2: never predicted
    matrix = np.array([[3, 1, 0], [1, 1, 0], [1, 0, 0]])
    rows = per_class_rows(matrix, ["a", "b", "c"])
    assert [r["class"] for r in rows] == ["a", "b", "c"]
    a, b, c = rows
    assert a["precision"] == pytest.approx(3 / 5, abs=1e-4)
    assert a["recall"] == pytest.approx(3 / 4, abs=1e-4)
    assert a["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75), abs=1e-4)
    assert a["support"] == 4
    assert (b["precision"], b["recall"], b["support"]) == (pytest.approx(0.5), pytest.approx(0.5), 2)
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 1)


def test_markdown_table_formats_floats_escapes_pipes_and_blanks_none() -> None:
    rows = [{"name": "a|b", "acc": 0.912345, "n": 3, "note": None}, {"name": "c", "acc": 0.5, "n": 10}]
    table = markdown_table(rows)
    lines = table.splitlines()
    assert table.endswith("\n")
    assert lines[0] == "| name | acc | n | note |"
    assert lines[1] == "|---|---|---|---|"
    assert lines[2] == "| a\\|b | 0.9123 | 3 |  |"
    assert lines[3] == "| c | 0.5000 | 10 |  |"
    assert markdown_table(rows, ["n", "name"]).splitlines()[2] == "| 3 | a\\|b |"
    assert markdown_table([]) == ""


def test_learning_curves_figure_draws_training_against_validation_per_panel() -> None:
    fig = learning_curves_figure(HISTORY, "trial 3")
    traces = {t.name: t for t in fig.data}
    assert sorted(traces) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, trace in traces.items():
        assert list(trace.y) == HISTORY[key]
        assert list(trace.x) == [1, 2, 3]  # epochs count from 1
    # loss on the left panel, accuracy on the right
    assert traces["loss"].xaxis == traces["val_loss"].xaxis == "x"
    assert traces["accuracy"].xaxis == traces["val_accuracy"].xaxis == "x2"
    assert fig.layout.title.text == "trial 3"
    assert [a.text for a in fig.layout.annotations] == ["loss", "accuracy"]


def test_learning_curves_figure_leaves_out_keys_not_logged() -> None:
    fig = learning_curves_figure({"loss": [1.0, 0.5], "accuracy": [0.4, 0.6]}, "no validation")
    assert sorted(t.name for t in fig.data) == ["accuracy", "loss"]
    assert learning_curves_figure({}, "empty").data == ()


def test_confusion_figure_is_a_heat_map_of_the_matrix() -> None:
    matrix = np.array([[5, 1], [2, 7]])
    fig = confusion_figure(matrix, ["cat", "dog"], "confusion")
    (heat,) = fig.data
    assert heat.type == "heatmap"
    assert [list(r) for r in heat.z] == [[5, 1], [2, 7]]
    assert list(heat.x) == list(heat.y) == ["cat", "dog"]
    assert fig.layout.xaxis.title.text == "predicted"
    assert fig.layout.yaxis.title.text == "true"
    assert fig.layout.title.text == "confusion"


def _png(path: Path) -> Image.Image:
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        image.verify()  # a complete, valid PNG
    image = Image.open(path)
    assert image.format == "PNG"
    return image


def _drawn(image: Image.Image) -> bool:
    """Something is drawn: not a blank canvas (curves, labels and cells give many shades)."""
    return len(set(image.convert("L").getdata())) > 10


def test_confusion_png_writes_an_image_that_grows_with_the_classes(tmp_path: Path) -> None:
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    confusion_png(np.array([[5, 1], [2, 7]]), ["cat", "dog"], small, "two classes")
    confusion_png(np.eye(10, dtype=np.int64) * 3, [f"c{i}" for i in range(10)], large, "ten classes")
    small_image, large_image = _png(small), _png(large)
    assert large_image.width > small_image.width and large_image.height > small_image.height
    # the heat map is drawn: not a blank canvas
    assert _drawn(small_image) and _drawn(large_image)


def test_learning_curves_png_writes_an_image(tmp_path: Path) -> None:
    path = tmp_path / "curves.png"
    learning_curves_png(HISTORY, path, "trial 3")
    image = _png(path)
    assert image.width > 2 * image.height  # two panels side by side
    assert _drawn(image)
