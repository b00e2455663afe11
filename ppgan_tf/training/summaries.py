"""What a run shows of itself: sample grids as PNG files and in TensorBoard."""

import os

import cv2
import numpy as np


def comparison_grid(originals, deidentified, columns=8):
    """Originals above their de-identified faces, `columns` faces a row pair.

    Args:
        originals, deidentified: uint8 `[N, H, W, C]`.

    Returns:
        uint8 `[rows * H, columns * W, C]` with a 2-pixel white gutter.
    """
    count, height, width, channels = originals.shape
    columns = min(columns, count)
    row_pairs = -(-count // columns)
    gutter = 2
    grid = np.full(
        (row_pairs * 2 * (height + gutter), columns * (width + gutter), channels), 255, np.uint8
    )
    for i in range(count):
        r, c = divmod(i, columns)
        x = c * (width + gutter)
        for j, image in enumerate((originals[i], deidentified[i])):
            y = (2 * r + j) * (height + gutter)
            grid[y:y + height, x:x + width] = image
    return grid


def write_png(path, image):
    """Writes uint8 HxWxC (grey or RGB) to a PNG, creating the folder."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if image.shape[-1] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, image):
        raise OSError(f"{path}: could not write the PNG")
    return path
