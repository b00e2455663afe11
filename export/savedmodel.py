"""The generator as a SavedModel for TF Serving, and the portable graph TFLite and ONNX start from.

Serving signatures (inputs and outputs by name):

    serving_default           images uint8 [N, S, S, C]            -> deidentified uint8 [N, S, S, C]
    deidentify_with_seed      images uint8 [N, S, S, C], seeds int64 [N]
                                                                  -> deidentified uint8 [N, S, S, C]
    deidentify_with_noise     images uint8 [N, S, S, C], noise float32 [N, noise_size] in [0, 1)
                                                                  -> deidentified uint8 [N, S, S, C]
    deidentify_image_bytes    image_bytes string [N] (JPEG/PNG)    -> png string [N]
    embed                     images uint8 [N, S, S, C]            -> embedding float32 [N, D]   (the verificator)

Images are aligned face crops (see ppgan_tf.faces.alignment); `serving_default`
and `deidentify_image_bytes` draw fresh noise per call, `deidentify_with_seed`
gives the same face for the same seed. Encoded images of another size are
resized to S x S.

The portable graph has one signature, `deidentify`, with the noise as an
input (images uint8 [1, S, S, C], noise float32 [1, noise_size] in [0, 1)):
TFLite and ONNX have no portable random ops, so the caller draws the noise.
"""

import os

import keras
import tensorflow as tf

from ppgan_tf import layout
from ppgan_tf.data import pipeline



def float32_copy(model, input_shape):
    """The same network computing in float32, whatever policy it was trained under.

    Args:
        model: a built ppgan_tf network.
        input_shape: (height, width, channels) it takes.
    """
    config = {**model.get_config(), "dtype": "float32"}
    copy = type(model).from_config(config)
    copy(tf.zeros([1, *input_shape]))
    copy.set_weights(model.get_weights())
    return copy


def _images_spec(size, channels, batch=None, name="images"):
    return tf.TensorSpec([batch, size, size, channels], tf.uint8, name=name)


def serving_archive(generator, verificator=None):
    """A `keras.export.ExportArchive` holding the serving signatures above.

    The verificator, if given, takes faces of the generator's size.
    """
    size, channels = generator.image_size, generator.channels
    archive = keras.export.ExportArchive()
    archive.track(generator)

    def deidentify(images, noise):
        fake = generator(pipeline.to_model_range(images), training=False, noise=noise)
        return pipeline.to_uint8(fake)

    def random_noise(images):
        return tf.random.uniform([tf.shape(images)[0], generator.noise_size])

    archive.add_endpoint(
        "serving_default",
        lambda images: {"deidentified": deidentify(images, random_noise(images))},
        input_signature=[_images_spec(size, channels)],
    )
    archive.add_endpoint(
        "deidentify_with_seed",
        lambda images, seeds: {"deidentified": deidentify(images, generator.noise_from_seeds(seeds))},
        input_signature=[_images_spec(size, channels), tf.TensorSpec([None], tf.int64, name="seeds")],
    )

    archive.add_endpoint(
        "deidentify_with_noise",
        lambda images, noise: {"deidentified": deidentify(images, noise)},
        input_signature=[
            _images_spec(size, channels),
            tf.TensorSpec([None, generator.noise_size], tf.float32, name="noise"),
        ],
    )

    def from_bytes(image_bytes):
        decode = lambda data: decode_request_image(data, channels, size)  # noqa: E731
        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec([size, size, channels], tf.uint8))
        faces = deidentify(images, random_noise(images))
        return {"png": tf.map_fn(tf.io.encode_png, faces, fn_output_signature=tf.string)}

    archive.add_endpoint(
        "deidentify_image_bytes", from_bytes, input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")]
    )
    if verificator is not None:
        archive.track(verificator)
        archive.add_endpoint(
            "embed",
            lambda images: {"embedding": tf.cast(verificator(pipeline.to_model_range(images)), tf.float32)},
            input_signature=[_images_spec(size, verificator.channels)],
        )
    return archive


def portable_archive(generator):
    """An archive whose one signature, `deidentify(images, noise)` at batch 1, TFLite and ONNX are made from."""
    size, channels = generator.image_size, generator.channels
    archive = keras.export.ExportArchive()
    archive.track(generator)

    def deidentify(images, noise):
        fake = generator(pipeline.to_model_range(images), training=False, noise=noise)
        return {"deidentified": pipeline.to_uint8(fake)}

    archive.add_endpoint(
        "deidentify",
        deidentify,
        input_signature=[
            _images_spec(size, channels, batch=1),
            tf.TensorSpec([1, generator.noise_size], tf.float32, name="noise"),
        ],
    )
    return archive


def write_warmup(savedmodel_dir, model_name, sample_images):
    """TF Serving warm-up records: one `serving_default` PredictRequest per sample face."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = os.path.join(savedmodel_dir, layout.SERVING_WARMUP)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for image in sample_images:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default"),
                inputs={"images": tf.make_tensor_proto(image[None], dtype=tf.uint8)},
            )
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


# A request's image is an aligned face: anything over 16 MP is refused before it is decoded.
MAX_REQUEST_PIXELS = 4096 * 4096


def declared_pixels(data):
    """Width x height that an encoded image's header declares (JPEG, PNG, GIF, BMP; 0 for others), read in the graph."""
    padded = tf.strings.join([data, tf.constant(b"\0" * 32)])
    head = tf.cast(tf.io.decode_raw(tf.strings.substr(padded, 0, 32), tf.uint8), tf.int64)
    big_endian = lambda i: head[i] * 16777216 + head[i + 1] * 65536 + head[i + 2] * 256 + head[i + 3]  # noqa: E731
    little_endian = lambda i: head[i] + head[i + 1] * 256 + head[i + 2] * 65536 + head[i + 3] * 16777216  # noqa: E731

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return shape[0] * shape[1]

    def bmp():
        height = little_endian(22)  # signed: negative for top-down rows
        return little_endian(18) * tf.where(height >= 2**31, 2**32 - height, height)

    return tf.case([
        (tf.logical_and(tf.equal(head[0], 0xFF), tf.equal(head[1], 0xD8)), jpeg),
        (tf.logical_and(tf.equal(head[0], 0x89), tf.equal(head[1], 0x50)), lambda: big_endian(16) * big_endian(20)),
        (tf.logical_and(tf.equal(head[0], 0x47), tf.equal(head[1], 0x49)),
         lambda: (head[6] + 256 * head[7]) * (head[8] + 256 * head[9])),
        (tf.logical_and(tf.equal(head[0], 0x42), tf.equal(head[1], 0x4D)), bmp),
    ], default=lambda: tf.constant(0, tf.int64))


def decode_request_image(data, channels, size):
    """One request image -> an aligned uint8 face of `size`; too large or undecodable raise InvalidArgumentError."""
    pixels = declared_pixels(data)
    with tf.control_dependencies([tf.debugging.assert_less_equal(
            pixels, tf.constant(MAX_REQUEST_PIXELS, tf.int64),
            message=f"image too large (limit {MAX_REQUEST_PIXELS // 1_000_000} megapixels)")]):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    image = tf.image.resize(image, [size, size], antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def models_config(model_name, base_path):
    """TF Serving's --model_config_file text for one model."""
    return (
        "model_config_list {\n"
        "  config {\n"
        f'    name: "{model_name}"\n'
        f'    base_path: "{base_path}"\n'
        '    model_platform: "tensorflow"\n'
        "  }\n"
        "}\n"
    )
