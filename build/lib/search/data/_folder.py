"""A user's data set as a folder of images with one sub-folder per class.

Either ``root/<class>/*.png`` (a stratified share is held out later as the test set) or
``root/train/<class>/...`` with ``root/test/<class>/...``. Grayscale images stay one channel (if
every image is grayscale), anything else becomes RGB; every image is resized to the most common
size.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from search.data._dataset import DataError
from search.data._split import RawData

__all__ = ["IMAGE_SUFFIXES", "read_folder"]

_LOG = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_GRAY_8BIT = frozenset({"1", "L", "LA"})
_GRAY_16BIT = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_LAYOUT = (
    "put images in <folder>/<class name>/, "
    "or in <folder>/train/<class name>/ and <folder>/test/<class name>/"
)


def _class_dirs(folder: Path) -> list[Path]:
    dirs = sorted(
        entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith(".")
    )
    if not dirs:
        raise DataError(f"{folder} has no class sub-folders; {_LAYOUT}")
    return dirs


def _images_in(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not path.name.startswith(".")
    )


def _files(folder: Path, class_names: tuple[str, ...], required: bool) -> list[tuple[Path, int]]:
    """(image path, label) of every image under ``folder/<class>/``."""
    files: list[tuple[Path, int]] = []
    for class_dir in _class_dirs(folder):
        images = _images_in(class_dir)
        if not images and required:
            raise DataError(
                f"{class_dir} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                "put the class's images there or remove the folder"
            )
        files.extend((path, class_names.index(class_dir.name)) for path in images)
    return files


def _probe(paths: list[Path]) -> tuple[tuple[int, int], bool, bool]:
    """Reads image headers: the most common (width, height), all grayscale?, any 16-bit?"""
    sizes: Counter[tuple[int, int]] = Counter()
    modes: set[str] = set()
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes[image.size] += 1
                modes.add(image.mode)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise DataError(
                f"cannot read image {path}: {exc}; replace or remove the file"
            ) from None
    gray = modes <= _GRAY_8BIT | _GRAY_16BIT
    return sizes.most_common(1)[0][0], gray, gray and bool(modes & _GRAY_16BIT)


def _decode(path: Path, size: tuple[int, int], gray: bool, wide: bool) -> np.ndarray:
    """One image as (h, w, c): uint8 0..255, or float32 in [0, 1] if ``wide`` (16-bit images)."""
    try:
        with Image.open(path) as image:
            if image.mode in _GRAY_16BIT:
                # Converting 16-bit to "L" would clip at 255: scale to [0, 1] floats ("F") instead.
                plane = np.clip(np.asarray(image, dtype=np.float32) / 65535.0, 0.0, 1.0)
                scaled = Image.fromarray(plane)
                if scaled.size != size:
                    scaled = scaled.resize(size, Image.Resampling.BILINEAR)
                return np.asarray(scaled, dtype=np.float32)[..., np.newaxis]
            converted = image.convert("L" if gray else "RGB")
            if converted.size != size:
                converted = converted.resize(size, Image.Resampling.BILINEAR)
            pixels = np.asarray(converted)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {path}: {exc}; replace or remove the file") from None
    if gray:
        pixels = pixels[..., np.newaxis]
    return pixels.astype(np.float32) / 255.0 if wide else pixels


def _decode_all(
    files: list[tuple[Path, int]], size: tuple[int, int], gray: bool, wide: bool
) -> tuple[np.ndarray, np.ndarray]:
    width, height = size
    images = np.empty(
        (len(files), height, width, 1 if gray else 3), dtype=np.float32 if wide else np.uint8
    )
    for index, (path, _) in enumerate(files):
        images[index] = _decode(path, size, gray, wide)
    return images, np.array([label for _, label in files], dtype=np.int64)


def read_folder(root: Path) -> RawData:
    """Reads a folder of images with one sub-folder per class.

    Args:
        root: The folder. If it has ``train/`` and ``test/`` sub-folders they are the two sets;
            otherwise its sub-folders are the classes and the test set is held out later.

    Returns:
        Images (n, h, w, 1 or 3), uint8 (float32 in [0, 1] for 16-bit images), and int64 labels;
        the class names are the sorted sub-folder names.

    Raises:
        DataError: The layout is wrong, a class folder is empty or an image cannot be read.
    """
    train_dir, test_dir = root / "train", root / "test"
    if train_dir.is_dir() != test_dir.is_dir():
        found, lacking = ("train", "test") if train_dir.is_dir() else ("test", "train")
        raise DataError(f"{root} has a {found}/ but no {lacking}/ sub-folder; {_LAYOUT}")
    split = train_dir.is_dir()
    class_dirs = _class_dirs(train_dir if split else root)
    class_names = tuple(path.name for path in class_dirs)
    train = _files(train_dir if split else root, class_names, required=True)
    test: list[tuple[Path, int]] = []
    if split:
        unknown = sorted({path.name for path in _class_dirs(test_dir)} - set(class_names))
        if unknown:
            raise DataError(
                f"{test_dir} has class folder(s) {', '.join(unknown)} that {train_dir} lacks; "
                "use the same class names in both"
            )
        test = _files(test_dir, class_names, required=False)
        if not test:
            raise DataError(
                f"{test_dir} holds no images; put test images in {test_dir}/<class name>/"
            )
    size, gray, wide = _probe([path for path, _ in train + test])
    _LOG.info(
        "%s: decoding %d images as %dx%d %s",
        root,
        len(train) + len(test),
        size[1],
        size[0],
        "grayscale" if gray else "RGB",
    )
    x_train, y_train = _decode_all(train, size, gray, wide)
    if not split:
        return RawData(class_names, x_train, y_train)
    x_test, y_test = _decode_all(test, size, gray, wide)
    return RawData(class_names, x_train, y_train, x_test, y_test)
