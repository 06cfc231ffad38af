"""A user's folder of images, one sub-folder per class, with or without ``train/`` and ``test/``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from search.data import DataError, load_dataset

# Each class has its own shade (grayscale) or color (RGB), so labels can be checked on pixels.
SHADES = {"bird": 40, "cat": 120, "dog": 200}
COLORS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}


def _gray(folder: Path, value: int, count: int, size: tuple[int, int] = (12, 10)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.new("L", size, value).save(folder / f"gray{size[0]}x{size[1]}-{index:03d}.png")


def _rgb(folder: Path, color: tuple[int, int, int], count: int, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        Image.new("RGB", (9, 7), color).save(folder / f"img{index:03d}.png")


def test_flat_grayscale_folder_holds_out_a_stratified_test_set(tmp_path: Path) -> None:
    for name, shade in SHADES.items():
        _gray(tmp_path / name, shade, 10)
    _gray(tmp_path / "cat", SHADES["cat"], 1, size=(30, 30))  # resized to the common 12x10
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    data = load_dataset(str(tmp_path), val_fraction=0.25, seed=1)
    assert data.class_names == ("bird", "cat", "dog")
    assert data.input_shape == (10, 12, 1)
    # 31 images: 20% (7) stratified test, then 25% of the other 24 for validation.
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (18, 6, 7)
    assert np.bincount(data.y_test).tolist() == [2, 3, 2]
    assert np.bincount(data.y_val).tolist() == [2, 2, 2]
    for x, y in (
        (data.x_train, data.y_train),
        (data.x_val, data.y_val),
        (data.x_test, data.y_test),
    ):
        shades = np.round(x.reshape(len(x), -1).mean(axis=1) * 255)
        assert shades.tolist() == [SHADES[data.class_names[label]] for label in y]


def test_train_and_test_folders_in_rgb(tmp_path: Path) -> None:
    for name, color in COLORS.items():
        _rgb(tmp_path / "train" / name, color, 8)
        _rgb(tmp_path / "test" / name, color, 3, start=100)
    data = load_dataset(str(tmp_path), val_fraction=0.25)
    assert data.summary() == f"{tmp_path}: 18 train / 6 val / 9 test, 7x9x3, 3 classes"
    assert data.class_names == ("blue", "green", "red")
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        colors = np.round(x.mean(axis=(1, 2)) * 255).astype(int).tolist()
        assert colors == [list(COLORS[data.class_names[label]]) for label in y]


def test_one_color_image_makes_everything_rgb(tmp_path: Path) -> None:
    _gray(tmp_path / "a", 10, 6, size=(9, 7))
    _gray(tmp_path / "b", 250, 5, size=(9, 7))
    _rgb(tmp_path / "b", (1, 2, 3), 1, start=50)
    data = load_dataset(str(tmp_path), val_fraction=0.5)
    assert data.input_shape == (7, 9, 3)


def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    for name, level in (("dark", 1000), ("light", 60000)):
        (tmp_path / name).mkdir()
        for index in range(5):
            Image.fromarray(np.full((6, 6), level, np.uint16)).save(
                tmp_path / name / f"{index}.png"
            )
    data = load_dataset(str(tmp_path), val_fraction=0.5)
    levels = sorted({round(float(v) * 65535) for v in np.unique(data.x_train)})
    assert levels == [1000, 60000]
    assert data.input_shape == (6, 6, 1)


def test_second_call_is_cached_and_reads_no_file(
    tmp_path: Path, forbid_reads: Callable[[], None]
) -> None:
    for name, shade in SHADES.items():
        _gray(tmp_path / name, shade, 5)
    first = load_dataset(str(tmp_path), val_fraction=0.5)
    forbid_reads()
    assert load_dataset(str(tmp_path), val_fraction=0.5) is first
    assert load_dataset(str(tmp_path), val_fraction=0.5, seed=4) is not first


def test_layout_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has no class sub-folders"):
        load_dataset(str(tmp_path))
    _gray(tmp_path / "train" / "a", 1, 3)
    with pytest.raises(DataError, match="has a train/ but no test/ sub-folder"):
        load_dataset(str(tmp_path))
    _gray(tmp_path / "test" / "z", 1, 3)
    with pytest.raises(DataError, match="class folder\\(s\\) z that"):
        load_dataset(str(tmp_path))


def test_empty_class_and_broken_image(tmp_path: Path) -> None:
    _gray(tmp_path / "a", 1, 3)
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match=f"{tmp_path / 'b'} holds no images"):
        load_dataset(str(tmp_path))
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(DataError) as error:
        load_dataset(str(tmp_path))
    assert str(tmp_path / "b" / "broken.png") in str(error.value)
    assert "\n" not in str(error.value)
