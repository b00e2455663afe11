"""The generator as ONNX (tf2onnx, opset 17); `ppgan_tf.deidentify.backends.OnnxGenerator` runs it."""

import tensorflow as tf

OPSET = 17


def write(portable_dir, path, image_size, channels, noise_size):
    """Converts the portable SavedModel's `deidentify` signature to an ONNX file."""
    import tf2onnx

    loaded = tf.saved_model.load(portable_dir)  # kept alive: the signature uses its variables
    signature = loaded.signatures["deidentify"]
    spec = [
        tf.TensorSpec([1, image_size, image_size, channels], tf.uint8, name="images"),
        tf.TensorSpec([1, noise_size], tf.float32, name="noise"),
    ]
    function = tf.function(lambda images, noise: signature(images=images, noise=noise), autograph=False)
    tf2onnx.convert.from_function(function, input_signature=spec, opset=OPSET, output_path=path)
    return path
