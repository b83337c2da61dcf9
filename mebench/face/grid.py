"""The face grid: one partition of an image (or an axis) into equal cells, used by every block feature.

Position ``i`` of an axis of length ``n`` split into ``k`` cells belongs to cell ``i * k // n``, so
cells differ in size by at most one pixel and the larger ones come last.
"""
from __future__ import annotations

import numpy as np


def axis_cells(n: int, k: int) -> np.ndarray:
    """Cell number (0..k-1) of each of ``n`` positions split into ``k`` equal parts."""
    if k < 1 or n < k:
        raise ValueError(f"cannot split {n} positions into {k} cells")
    return np.arange(n) * k // n


def cell_index(shape, grid) -> np.ndarray:
    """(H, W) row-major cell number of every pixel for a ``grid`` of (rows, cols) cells."""
    h, w = shape[:2]
    rows, cols = grid
    return axis_cells(h, rows)[:, None] * cols + axis_cells(w, cols)[None, :]


def cell_means(values: np.ndarray, grid) -> np.ndarray:
    """Mean of ``values`` (H, W) over each grid cell, (rows*cols,)."""
    cell = cell_index(values.shape, grid).ravel()
    n_cells = grid[0] * grid[1]
    return np.bincount(cell, weights=np.asarray(values, np.float64).ravel(), minlength=n_cells) / np.bincount(
        cell, minlength=n_cells)
