"""TFLite variants of the generator, converted from the portable SavedModel (`backends.TFLiteGenerator` runs them)."""

import json
import os

import tensorflow as tf

from ppgan_tf import layout

VARIANTS = ("float32", "float16", "dynamic_int8", "full_int8")
# Ops full_int8 keeps in float: quantised, the encoder's LeakyReLU outputs lose
# the most (the shipped generator: SSIM 0.835 with them in int8, 0.850 without; float32 0.883).
FLOAT_OPS = ["LEAKY_RELU"]


def convert(portable_dir, variant, representative=None):
    """TFLite flatbuffer bytes of one variant.

    Args:
        portable_dir: SavedModel with the `deidentify(images, noise)` signature.
        variant: one of `VARIANTS`.
        representative: for 'full_int8', an iterable of {"images", "noise"}
            dicts (real training faces) that calibrates the quantisation.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(portable_dir, signature_keys=[layout.SIGNATURE])
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "full_int8":
        if representative is None:
            raise ValueError("full_int8 needs representative faces")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: iter(representative)
        # The quantiser behind the debugger is the one that takes a list of ops to keep in float.
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=FLOAT_OPS)
        return tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_options=options).get_nondebug_quantized_model()
    elif variant != "float32":
        raise ValueError(f"Unknown TFLite variant {variant!r}: {VARIANTS}")
    return converter.convert()


def input_contract(generator, alignment_margin=0.2):
    """What a caller must feed the TFLite model, written beside it as JSON."""
    size, channels = generator.image_size, generator.channels
    return {
        "signature": layout.SIGNATURE,
        "inputs": {
            "images": {
                "shape": [1, size, size, channels],
                "dtype": "uint8",
                "range": [0, 255],
                "content": f"one aligned face crop, {'grey' if channels == 1 else 'RGB'}, "
                f"5-point template with margin {alignment_margin} (ppgan_tf.faces.alignment)",
            },
            "noise": {
                "shape": [1, generator.noise_size],
                "dtype": "float32",
                "range": [0.0, 1.0],
                "content": "uniform noise; the same noise gives the same face",
            },
        },
        "outputs": {"deidentified": {"shape": [1, size, size, channels], "dtype": "uint8", "range": [0, 255]}},
    }


def write_variant(portable_dir, out_dir, variant, contract, representative=None):
    """Writes ppgan_<variant>.tflite and its contract JSON; returns the model path."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"ppgan_{variant}.tflite")
    with open(path, "wb") as f:
        f.write(convert(portable_dir, variant, representative))
    with open(layout.portable_contract_path(path), "w") as f:
        json.dump({**contract, "variant": variant}, f, indent=2)
    return path
