"""5-point similarity alignment onto a canonical template, and its inverse.

The template is the widely used 5-point layout of 112x112 face crops
(InsightFace/ArcFace), as fractions of the crop side:

    left eye (0.342, 0.462)   right eye (0.657, 0.460)   nose (0.500, 0.641)
    mouth left (0.371, 0.825) mouth right (0.631, 0.824)

That crop is tight (it cuts the forehead); `margin` widens it by that
fraction of its side on every edge, keeping the face centred: with the
default 0.2 the face spans about 70% of the 128x128 crop, close to the
framing of ORL and centre-cropped LFW faces.
"""

import dataclasses

import cv2
import numpy as np

TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
) / 112.0


def template_landmarks(size=128, margin=0.2):
    """Where the 5 landmarks go in a `size` x `size` crop, float `[5, 2]`."""
    return (TEMPLATE_112 + margin) / (1.0 + 2.0 * margin) * size


def face_box(margin=0.2):
    """Where the face lies in a crop aligned with this margin: (top, left, bottom, right), fractions of the side.

    From the template: brows to chin (0.6 of the eye-mouth distance above the
    eyes, 0.45 below the mouth) and half an eye distance beyond each eye.
    """
    eyes_y, mouth_y = TEMPLATE_112[:2, 1].mean(), TEMPLATE_112[3:, 1].mean()
    left_eye_x, right_eye_x = TEMPLATE_112[0, 0], TEMPLATE_112[1, 0]
    eye_mouth, eye_eye = mouth_y - eyes_y, right_eye_x - left_eye_x
    box = np.array([eyes_y - 0.6 * eye_mouth, left_eye_x - 0.5 * eye_eye,
                    mouth_y + 0.45 * eye_mouth, right_eye_x + 0.5 * eye_eye])
    return tuple(float(value) for value in (box + margin) / (1.0 + 2.0 * margin))


def similarity_transform(source, target):
    """The least-squares similarity (rotation, uniform scale, translation) mapping source onto target.

    Umeyama's closed form, without reflection. Returns a 2x3 matrix.
    """
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    source_mean, target_mean = source.mean(0), target.mean(0)
    src, dst = source - source_mean, target - target_mean
    covariance = dst.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / src.var(0).sum()
    translation = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, translation[:, None]])


def apply_transform(matrix, points):
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


@dataclasses.dataclass
class AlignedFace:
    """A face crop with the transforms between the photo and the crop."""

    crop: np.ndarray  # uint8 [size, size, C]
    to_crop: np.ndarray  # 2x3, photo -> crop
    to_photo: np.ndarray  # 2x3, crop -> photo


def align_face(image, landmarks, size=128, margin=0.2):
    """Warps the face with these landmarks onto the template; returns an `AlignedFace`."""
    to_crop = similarity_transform(landmarks, template_landmarks(size, margin))
    crop = cv2.warpAffine(image, to_crop, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    crop = crop.reshape(size, size, -1)
    return AlignedFace(crop=crop, to_crop=to_crop, to_photo=cv2.invertAffineTransform(to_crop))


def warp_to_photo(crop, to_photo, photo_shape):
    """Warps a (processed) crop back into photo coordinates.

    Returns (warped image, coverage): coverage is float [0, 1] per photo
    pixel, 1 where the crop covers it, for blending.
    """
    height, width = photo_shape[:2]
    warped = cv2.warpAffine(crop, to_photo, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    coverage = cv2.warpAffine(
        np.ones(crop.shape[:2], np.float32), to_photo, (width, height), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    return warped.reshape(height, width, -1), coverage
