"""What a run shows of itself: sample grids as PNG files and in TensorBoard."""

import os

import cv2
import numpy as np


def comparison_grid(originals, *processed, columns=8):
    """Originals above their processed versions (one row each), `columns` faces a row group.

    Args:
        originals: uint8 `[N, H, W, C]`.
        *processed: uint8 `[N, H, W, C]` arrays, e.g. de-identified faces of
            one or several models.

    Returns:
        uint8 grid with a 2-pixel white gutter.
    """
    sets = (originals, *processed)
    count, height, width, channels = originals.shape
    columns = min(columns, count)
    row_groups = -(-count // columns)
    gutter = 2
    grid = np.full(
        (row_groups * len(sets) * (height + gutter), columns * (width + gutter), channels), 255, np.uint8
    )
    for i in range(count):
        r, c = divmod(i, columns)
        x = c * (width + gutter)
        for j, images in enumerate(sets):
            y = (len(sets) * r + j) * (height + gutter)
            grid[y:y + height, x:x + width] = images[i]
    return grid


def write_png(path, image):
    """Writes uint8 HxWxC (grey or RGB) to a PNG, creating the folder."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, image):
        raise OSError(f"{path}: could not write the PNG")
    return path
