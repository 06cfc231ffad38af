"""A class-stratified subset of the training images, drawn once per trial (its first epoch)."""

from __future__ import annotations

import numpy as np

__all__ = ["stratified_subset"]


def stratified_subset(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    """The sorted indices of ``size`` images of ``y``, every class kept in proportion.

    Each class gets its share of ``size`` rounded down, and the images left over go to the
    classes with the largest remainders (so the total is exactly ``size``); a class present in
    ``y`` keeps at least one image when ``size`` allows. The draw depends only on ``y``, ``size``
    and ``seed``: a trial that draws again with its seed trains on the same images.

    Args:
        y: integer class indices, ``(n,)``.
        size: images to keep, 1 to ``n``.
        seed: the draw's seed.

    Raises:
        ValueError: ``size`` outside 1 to ``n``.
    """
    y = np.asarray(y)
    n = len(y)
    if not 1 <= size <= n:
        raise ValueError(f"a subset of {size} images out of {n}")
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * (size / n)
    share = np.floor(exact).astype(np.int64)
    if size >= len(classes):  # every class keeps at least one image
        share = np.maximum(share, 1)
    left = size - int(share.sum())
    if left > 0:  # the largest remainders first (ties: the larger class)
        order = np.lexsort((-counts, -(exact - share)))
        share[order[:left]] += 1
    for _ in range(-left):  # the minimum of one overshot: take back from the largest share
        share[int(np.argmax(share))] -= 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(y == c), size=int(k), replace=False) for c, k in zip(classes, share, strict=True)]
    return np.sort(np.concatenate(picked)).astype(np.int64)
