"""The pretrained model that ships inside the package: its files, how they are written and loaded.

A packaged model is a folder (the shipped one: `ppgan_tf/pretrained/`):

    model.json                the networks' configs, the verificator's threshold, the
                              training facts, and the sha256 of each weights file
    generator.float16.npz     G's weights in order, as float16 (half the size; restored to float32)
    verificator.float16.npz   V's weights, likewise
    generator.float16.tflite  the same G (the same float16 weights) for TFLite: what `ppgan-deidentify` and
                              `Deidentifier()` run, without loading TensorFlow (optional: Keras otherwise)
    MODEL_CARD.md             what it is, what it was trained on and against, its numbers and limits
    package_report.json       the check against float32 (float16 Keras, TFLite) it was packaged with

Weights are stored as arrays rather than `.keras` files so that float16
halves the package and loading needs nothing but the model classes.
"""

import hashlib
import json
import os

import numpy as np

PACKAGED_DIR = os.path.join(os.path.dirname(__file__), "pretrained")
INFO_FILENAME = "model.json"
CARD_FILENAME, REPORT_FILENAME = "MODEL_CARD.md", "package_report.json"
WEIGHT_FILES = {"generator": "generator.float16.npz", "verificator": "verificator.float16.npz"}
PORTABLE_GENERATOR = "generator.float16.tflite"


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_packaged_model(generator, verificator, info, out_dir):
    """Writes G and V (float16 weights) and `model.json` into `out_dir`; returns the info written.

    Args:
        generator: a built `UNetGenerator`.
        verificator: a built `LightCNN9`.
        info: dict of facts to keep (image_size, channels, margin, threshold, training data, ...).
        out_dir: the folder (created).

    Example:
    >>> info = write_packaged_model(generator, verificator, {"image_size": 128, "channels": 3}, "out")
    """
    os.makedirs(out_dir, exist_ok=True)
    info = dict(info, configs={}, sha256={})
    for name, model in (("generator", generator), ("verificator", verificator)):
        path = os.path.join(out_dir, WEIGHT_FILES[name])
        weights = {f"w{i:03d}": np.asarray(w, np.float32).astype(np.float16) for i, w in enumerate(model.get_weights())}
        np.savez_compressed(path, **weights)
        info["configs"][name] = model.get_config()
        info["sha256"][WEIGHT_FILES[name]] = _sha256(path)
    with open(os.path.join(out_dir, INFO_FILENAME), "w") as f:
        json.dump(info, f, indent=2)
    return info


def add_portable_generator(tflite_bytes, out_dir):
    """Adds the TFLite generator (made from this package's own generator) to the package in `out_dir`."""
    path = os.path.join(out_dir, PORTABLE_GENERATOR)
    with open(path, "wb") as f:
        f.write(tflite_bytes)
    info = load_info(out_dir)
    info["sha256"][PORTABLE_GENERATOR] = _sha256(path)
    with open(os.path.join(out_dir, INFO_FILENAME), "w") as f:
        json.dump(info, f, indent=2)
    return path


def _checked_path(directory, filename):
    info_path = os.path.join(directory, INFO_FILENAME)
    if not os.path.isfile(info_path):
        raise FileNotFoundError(f"{directory}: no packaged model here ({INFO_FILENAME} missing)")
    path = os.path.join(directory, filename)
    if _sha256(path) != load_info(directory)["sha256"][filename]:
        raise ValueError(f"{path}: sha256 differs from {info_path}; the packaged model was altered")
    return path


def portable_generator_path(directory=None):
    """The package's TFLite generator, checked by sha256; None when the package has none."""
    directory = directory or PACKAGED_DIR
    if PORTABLE_GENERATOR not in load_info(directory).get("sha256", {}):
        return None
    return _checked_path(directory, PORTABLE_GENERATOR)


def load_info(directory=None):
    """The `model.json` of a packaged model (default: the shipped one)."""
    with open(os.path.join(directory or PACKAGED_DIR, INFO_FILENAME)) as f:
        return json.load(f)


def has_packaged_model(directory=None):
    return os.path.isfile(os.path.join(directory or PACKAGED_DIR, INFO_FILENAME))


def load_packaged_network(name, directory=None):
    """The packaged 'generator' or 'verificator' (default: the shipped model's), weights checked by sha256.

    Raises FileNotFoundError when there is none, ValueError when a file was altered.
    """
    import tensorflow as tf

    from ppgan_tf.models import LightCNN9, UNetGenerator

    directory = directory or PACKAGED_DIR
    path = _checked_path(directory, WEIGHT_FILES[name])
    info = load_info(directory)
    model = {"generator": UNetGenerator, "verificator": LightCNN9}[name].from_config(
        dict(info["configs"][name], dtype="float32"))
    shape = [1, info["image_size"], info["image_size"], info["channels"]]
    if name == "generator":
        model(tf.zeros(shape), noise_seeds=tf.zeros([1], tf.int64))
    else:
        model(tf.zeros(shape))
    with np.load(path) as saved:
        model.set_weights([saved[key].astype(np.float32) for key in sorted(saved.files)])
    model.trainable = False
    return model


def load_packaged_model(directory=None):
    """(generator, verificator, info) of a packaged model (default: the shipped one), weights checked by sha256.

    Raises FileNotFoundError when there is none, ValueError when a file was altered.
    """
    generator = load_packaged_network("generator", directory)
    return generator, load_packaged_network("verificator", directory), load_info(directory or PACKAGED_DIR)
