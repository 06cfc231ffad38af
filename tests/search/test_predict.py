"""``search.predict`` on images written from the real test set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from PIL import Image

from search import predict
from search.data import load_dataset
from search.results import load_best_model
from tests.search.conftest import Finished


def test_predicts_the_class_the_model_gives_each_image(
    finished: Finished, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = optuna.load_study(study_name="lenet-fashion_mnist", storage=finished.storage)
    model, _ = load_best_model(study, str(finished.artifacts))
    data = load_dataset("fashion_mnist", limit=400, seed=2)
    predicted = np.argmax(model.predict(data.x_test, verbose=0), axis=1)
    right = np.flatnonzero(predicted == data.y_test)[:4]
    assert len(right) == 4
    paths = []
    for k in right:
        path = tmp_path / f"test-{k}.png"
        Image.fromarray((data.x_test[k, :, :, 0] * 255).round().astype(np.uint8)).save(path)
        paths.append(path)
    capsys.readouterr()
    args = ["--study", "lenet", "--storage", finished.storage, "--artifacts", str(finished.artifacts)]
    assert predict.main([*args, *map(str, paths)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(str(tmp_path))]
    assert len(lines) == 4
    expected = model.predict(data.x_test[right], verbose=0).max(axis=1)  # on the arrays, not the files
    for line, k, p in zip(lines, right, expected, strict=True):
        path, name, probability = line.split("  ")[0], line.split("  ")[1].rsplit(" ", 1)[0], float(line.rsplit(" ", 1)[1])
        assert path == str(tmp_path / f"test-{k}.png")
        assert name == data.class_names[data.y_test[k]]
        assert probability == pytest.approx(float(p), abs=1e-3)


def test_light_background_is_inverted_like_the_training_images(tmp_path: Path) -> None:
    dark_on_light = np.full((56, 56), 255, dtype=np.uint8)
    dark_on_light[14:42, 14:42] = 0
    Image.fromarray(dark_on_light).save(tmp_path / "photo.png")
    array = predict.read_image(tmp_path / "photo.png", (28, 28, 1))
    assert array.shape == (28, 28, 1)
    assert array[0, 0, 0] == pytest.approx(0.0) and array[14, 14, 0] == pytest.approx(1.0)


def test_larger_colour_jpeg_becomes_the_models_grey_input(keras_home: Path, tmp_path: Path) -> None:
    data = load_dataset("fashion_mnist", limit=400, seed=2)
    grey = (data.x_test[0, :, :, 0] * 255).round().astype(np.uint8)
    Image.fromarray(grey).convert("RGB").resize((112, 112), Image.Resampling.NEAREST).save(tmp_path / "big.jpg", quality=95)
    array = predict.read_image(tmp_path / "big.jpg", (28, 28, 1))
    assert array.shape == (28, 28, 1) and array.dtype == np.float32
    assert float(np.abs(array - data.x_test[0]).mean()) < 0.03  # the same picture, not inverted


@pytest.mark.parametrize(("image", "message"), [("missing.png", "no image file"), ("notes.txt", "cannot read")])
def test_bad_image_is_one_line_exit_2(
    finished: Finished, tmp_path: Path, capsys: pytest.CaptureFixture[str], image: str, message: str
) -> None:
    (tmp_path / "notes.txt").write_text("not an image")
    args = ["--study", "lenet", "--storage", finished.storage, "--artifacts", str(finished.artifacts)]
    with pytest.raises(SystemExit) as exited:
        predict.main([*args, str(tmp_path / image)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_unknown_study_is_one_line_exit_2(finished: Finished, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(image)
    with pytest.raises(SystemExit) as exited:
        predict.main(["--study", "resnet", "--storage", finished.storage, "--artifacts", str(finished.artifacts), str(image)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no study 'resnet-fashion_mnist'" in err[0]


def test_study_without_a_complete_trial_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    storage = f"sqlite:///{tmp_path}/empty.db"
    study = optuna.create_study(study_name="lenet-fashion_mnist", storage=storage, direction="maximize")
    study.ask()  # a trial still running: nothing to predict with yet
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(image)
    with pytest.raises(SystemExit) as exited:
        predict.main(["--study", "lenet", "--storage", storage, "--artifacts", str(tmp_path), str(image)])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no completed trial" in err[0]
