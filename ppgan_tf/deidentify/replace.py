"""Putting a replacement face into a photo: the feathered mask, blending, and the classic modes."""

import cv2
import numpy as np

from ppgan_tf.faces import alignment


def face_mask(size, margin, feather=0.08):
    """Float [0, 1] mask of the face region in an aligned crop, softened at its edge.

    An ellipse around the template landmarks: from the eyebrows to below the
    mouth and across the cheeks; its edge fades over `feather` x size pixels.
    """
    points = alignment.template_landmarks(size, margin)
    eye_distance = np.linalg.norm(points[1] - points[0])
    centre = points.mean(axis=0) + np.array([0.0, -0.1 * eye_distance])
    axes = (1.15 * eye_distance, 1.45 * eye_distance)
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, tuple(int(round(v)) for v in centre), tuple(int(round(v)) for v in axes), 0, 0, 360, 1.0, -1)
    blur = max(3, int(feather * size) | 1)
    return cv2.GaussianBlur(mask, (blur, blur), 0)


def crop_region(to_photo, crop_size, photo_shape, pad=2):
    """The integer (x0, y0, x1, y1) box of the photo that a warped-back crop can touch."""
    corners = np.array([[0, 0], [crop_size, 0], [0, crop_size], [crop_size, crop_size]], np.float64)
    mapped = alignment.apply_transform(to_photo, corners)
    x0, y0 = np.floor(mapped.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(mapped.max(axis=0)).astype(int) + pad
    height, width = photo_shape[:2]
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def blend_into_photo(photo, face_crop, aligned, mask):
    """The photo with `face_crop` (aligned, RGB or grey) blended in through `mask`.

    Only the region of the photo the face can touch is warped and blended, so
    the cost and memory of a face do not grow with the photo's size.
    A grey face replaces the luminance only: the photo keeps its colours.
    Returns (new photo, the region's (x0, y0, x1, y1)).
    """
    x0, y0, x1, y1 = crop_region(aligned.to_photo, face_crop.shape[0], photo.shape)
    result = photo.copy()
    if x1 <= x0 or y1 <= y0:
        return result, (x0, y0, x0, y0)
    region = photo[y0:y1, x0:x1]
    to_region = aligned.to_photo - np.array([[0, 0, x0], [0, 0, y0]], np.float64)
    warped, coverage = alignment.warp_to_photo(face_crop, to_region, region.shape)
    weight, _ = alignment.warp_to_photo(mask, to_region, region.shape)
    weight = (weight[:, :, 0] * coverage)[:, :, None]
    if face_crop.shape[-1] == 1 and photo.shape[-1] == 3:
        ycrcb = cv2.cvtColor(region, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        ycrcb[:, :, :1] = ycrcb[:, :, :1] * (1 - weight) + warped.astype(np.float32) * weight
        mixed = cv2.cvtColor(np.clip(np.round(ycrcb), 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
    else:
        blend = region.astype(np.float32) * (1 - weight) + warped.astype(np.float32) * weight
        mixed = np.clip(np.round(blend), 0, 255).astype(np.uint8)
    # Outside the mask the photo stays exactly as it was (no colour round trip).
    result[y0:y1, x0:x1] = np.where(weight > 0, mixed, region)
    return result, (x0, y0, x1, y1)


def with_luminance_of(crop, face):
    """`crop` (RGB uint8) with the luminance of `face` (RGB or grey, same size): the crop keeps its colours."""
    luminance = face[:, :, 0] if face.shape[-1] == 1 else cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb)[:, :, 0]
    ycrcb = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    ycrcb[:, :, 0] = luminance
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)


def expanded_box(box, shape, grow=0.25):
    """An integer (x0, y0, x1, y1) box grown by `grow` of its size on each side, inside the photo."""
    x, y, w, h = box
    x0, y0 = int(max(0, x - grow * w)), int(max(0, y - grow * h))
    x1, y1 = int(min(shape[1], x + w * (1 + grow))), int(min(shape[0], y + h * (1 + grow)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


# Side of the Gaussian kernel a blur runs at; a wider one is applied to a copy shrunk to match.
BLUR_WORKING_KERNEL = 15


def wide_blur(region, kernel):
    """Two Gaussian blurs of side `kernel` (one still lets a recogniser see the face's layout).

    A kernel a third of the face wide costs as much as the rest of the
    photo's processing, so the region is shrunk (area averaging, itself a
    low-pass) until the kernel is `BLUR_WORKING_KERNEL` pixels, blurred there
    and enlarged back: within a few grey levels of the full-size blur, tens
    of times faster.
    """
    height, width = region.shape[:2]
    shrink = max(1, kernel // BLUR_WORKING_KERNEL)
    small = cv2.resize(region, (max(1, width // shrink), max(1, height // shrink)), interpolation=cv2.INTER_AREA)
    small_kernel = max(3, (kernel // shrink) | 1)
    small = cv2.GaussianBlur(cv2.GaussianBlur(small, (small_kernel, small_kernel), 0), (small_kernel, small_kernel), 0)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR).reshape(region.shape)


def classic(photo, box, mode):
    """The photo with the face box blurred, pixelated ('mosaic') or filled ('solid')."""
    result = photo.copy()
    x0, y0, x1, y1 = expanded_box(box, photo.shape)
    region = result[y0:y1, x0:x1]
    side = max(x1 - x0, y1 - y0)
    if mode == "blur":
        region[:] = wide_blur(region, max(3, (side // 3) | 1))
    elif mode == "mosaic":
        blocks = 8
        small = cv2.resize(region, (blocks, blocks), interpolation=cv2.INTER_AREA)
        region[:] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST).reshape(region.shape)
    elif mode == "solid":
        region[:] = 0
    else:
        raise ValueError(f"Unknown mode {mode!r}: blur, mosaic or solid")
    return result
