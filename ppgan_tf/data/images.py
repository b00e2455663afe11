"""Decoding face images into fixed-size uint8 crops, skipping (and counting) bad files."""

import collections
import concurrent.futures
import dataclasses
import os

import cv2
import numpy as np

MIN_SIDE = 16  # Smaller images hold no usable face.


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def decode_image(path, channels):
    """Reads an image file as uint8 HxWxC, C = 1 (grey) or 3 (RGB).

    Handles JPEG, PNG, PGM/PPM, BMP, TIFF and WebP; 16-bit images are scaled
    to 8 bits, alpha is dropped, grey is expanded to RGB and colour reduced
    to grey as `channels` asks.

    Raises:
        ImageError: unreadable, empty, undecodable or too small.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageError(path, f"cannot read ({e.strerror})") from None
    if not data:
        raise ImageError(path, "empty file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(path, "not a decodable image (corrupt, truncated or unsupported format)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(path, f"unsupported pixel type {image.dtype}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageError(path, f"too small ({width}x{height}, need at least {MIN_SIDE} px a side)")
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if channels == 1:
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return grey[:, :, None]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def center_crop_resize(image, size, crop_fraction=1.0):
    """The centred square of side `crop_fraction` x the shorter side, resized to `size`."""
    height, width = image.shape[:2]
    side = max(1, int(round(min(height, width) * crop_fraction)))
    top, left = (height - side) // 2, (width - side) // 2
    crop = image[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (size, size), interpolation=interpolation)
    return resized.reshape(size, size, image.shape[2])


@dataclasses.dataclass
class FaceSet:
    """Decoded faces of a list of records, with what was skipped and why."""

    images: np.ndarray  # uint8 [N, size, size, C]
    records: list  # the N FaceRecords that decoded
    skipped: list  # (key, problem) of the records that did not

    @property
    def identities(self):
        return [r.identity for r in self.records]

    def skip_summary(self):
        return dict(collections.Counter(problem.split(" (")[0] for _, problem in self.skipped))


def load_faces(records, size, channels, crop_fraction=1.0, workers=None):
    """Decodes and crops every record in parallel; bad files are skipped and listed.

    Args:
        records: list of `FaceRecord`.
        size: side of the output crops.
        channels: 1 or 3.
        crop_fraction: see `center_crop_resize`.
        workers: decoding threads (OpenCV releases the GIL); default all cores.
    """

    def one(record):
        try:
            return center_crop_resize(decode_image(record.path, channels), size, crop_fraction), None
        except ImageError as e:
            return None, e.problem

    with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        results = list(pool.map(one, records))
    kept = [(r, image) for r, (image, _) in zip(records, results) if image is not None]
    skipped = [(r.key, problem) for r, (_, problem) in zip(records, results) if problem is not None]
    images = np.stack([image for _, image in kept]) if kept else np.zeros((0, size, size, channels), np.uint8)
    return FaceSet(images=images, records=[r for r, _ in kept], skipped=skipped)
