"""Decoding face images into fixed-size uint8 crops, skipping (and counting) bad files."""

import collections
import concurrent.futures
import dataclasses
import os

import io

import cv2
import numpy as np
import PIL.Image

MIN_SIDE = 16  # Smaller images hold no usable face.
MAX_PIXELS = 200_000_000  # Larger ones are refused before decoding.


class ImageError(ValueError):
    """An image file that cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def _pixel_size(data):
    """(width, height) from the file header without decoding, or None if unknown."""
    try:
        with PIL.Image.open(io.BytesIO(data)) as header:
            return header.size
    except PIL.Image.DecompressionBombError:
        return (MAX_PIXELS + 1, 1)  # Pillow refuses it from the header alone: over any sane limit
    except (PIL.UnidentifiedImageError, OSError, ValueError):
        return None


def decode_image_bytes(data, channels, name="<bytes>", max_pixels=MAX_PIXELS):
    """Decodes an encoded image to uint8 HxWxC, C = 1 (grey) or 3 (RGB).

    JPEG (also CMYK), PNG, PGM/PPM, BMP, TIFF, WebP and GIF (first frame);
    EXIF orientation is applied, 16-bit images are scaled to 8 bits, alpha
    is dropped, grey is expanded to RGB and colour reduced to grey as
    `channels` asks.

    Raises:
        ImageError: empty, undecodable, too small or larger than `max_pixels`
            (read from the header, before decoding); the message names `name`
            and the problem.
    """
    if not data:
        raise ImageError(name, "empty file")
    size = _pixel_size(data)
    if size and size[0] * size[1] > max_pixels:
        shown = f"{size[0]}x{size[1]}, " if size[1] > 1 else ""
        raise ImageError(name, f"too large ({shown}limit {max_pixels / 1_000_000:g} megapixels)")
    flags = (cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR) | cv2.IMREAD_ANYDEPTH
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise ImageError(name, "not a decodable image (corrupt, truncated or unsupported format)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(name, f"unsupported pixel type {image.dtype}")
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageError(name, f"too small ({width}x{height}, need at least {MIN_SIDE} px a side)")
    if channels == 1:
        return image[:, :, None]
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_image(path, channels):
    """Reads and decodes an image file; see `decode_image_bytes`.

    Raises:
        ImageError: unreadable, empty, undecodable, too small or too large.
    """
    import tensorflow as tf  # only for gfile; the de-identifier reads photos without loading TensorFlow

    try:
        # gfile reads local paths and cloud storage (gs://, s3://) alike.
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except (OSError, tf.errors.OpError) as e:
        reason = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e)
        raise ImageError(path, f"cannot read ({reason})") from None
    return decode_image_bytes(data, channels, path)


def decode_record(record, channels):
    """Decodes a `FaceRecord`'s image, from its bytes (TFRecords) or its file."""
    if record.data:
        return decode_image_bytes(record.data, channels, record.key)
    return decode_image(record.path, channels)


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
            return center_crop_resize(decode_record(record, channels), size, crop_fraction), None
        except ImageError as e:
            return None, e.problem

    with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        results = list(pool.map(one, records))
    kept = [(r, image) for r, (image, _) in zip(records, results) if image is not None]
    skipped = [(r.key, problem) for r, (_, problem) in zip(records, results) if problem is not None]
    images = np.stack([image for _, image in kept]) if kept else np.zeros((0, size, size, channels), np.uint8)
    return FaceSet(images=images, records=[r for r, _ in kept], skipped=skipped)
