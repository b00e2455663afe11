"""The generator (and the verificator for the privacy guard) behind the de-identifier.

`load_backend(path)` accepts a work directory (its latest SavedModel export,
else its `generator.keras`), a SavedModel export, a `.tflite` or an `.onnx`
file. Every backend maps aligned uint8 faces and uniform noise to uint8
faces; the guard's verificator comes from the same export or work directory.
"""

import glob
import json
import os

import numpy as np


class Backend:
    """Generator and (optional) verificator with the facts the pipeline needs.

    image_size, channels, noise_size: the generator's contract.
    threshold: verificator distance below which two faces match (None: no guard).
    """

    image_size = 128
    channels = 1
    noise_size = 0
    threshold = None
    name = ""

    def generate(self, faces, noise):
        raise NotImplementedError

    def noise(self, seeds):
        """Uniform generator noise `[len(seeds), noise_size]`: the same seed, the same new face."""
        rows = [np.random.default_rng(seed).random(self.noise_size, dtype=np.float32) for seed in seeds]
        return np.array(rows, np.float32).reshape(len(rows), self.noise_size)

    def embed(self, faces):
        raise NotImplementedError

    @property
    def has_verificator(self):
        return self.threshold is not None


class KerasBackend(Backend):
    def __init__(self, workdir):
        import keras

        from ppgan_tf import models  # noqa: F401  (registers the saved classes)
        from ppgan_tf.training import run, verificator_pretraining
        from ppgan_tf.config import RunConfig

        config = RunConfig.load(workdir)
        self._generator = keras.saving.load_model(os.path.join(workdir, run.GENERATOR_FILENAME))
        self._verificator, info = verificator_pretraining.load_verificator(run.verificator_dir(config, workdir))
        self._embed = verificator_pretraining.embed
        self.image_size, self.channels = config.image_size, config.channels
        self.noise_size = self._generator.noise_size
        self.threshold = info["threshold"]
        self.name = f"keras:{workdir}"

    def generate(self, faces, noise):
        from ppgan_tf.data import pipeline

        fake = self._generator(pipeline.to_model_range(faces), training=False, noise=noise.astype(np.float32))
        return pipeline.to_uint8(fake).numpy()

    def embed(self, faces):
        return self._embed(self._verificator, faces)


class PackagedBackend(KerasBackend):
    """The pretrained model shipped inside the package (`ppgan_tf.packaged`), or one packaged the same way."""

    def __init__(self, directory=None):
        from ppgan_tf import packaged
        from ppgan_tf.training import verificator_pretraining

        self._generator, self._verificator, info = packaged.load_packaged_model(directory)
        self._embed = verificator_pretraining.embed
        self.image_size, self.channels = info["image_size"], info["channels"]
        self.noise_size = self._generator.noise_size
        self.threshold = info["verificator_threshold"]
        self.info = info
        self.name = f"packaged:{directory or packaged.PACKAGED_DIR}"


class SavedModelBackend(Backend):
    def __init__(self, directory):
        import tensorflow as tf

        from export import savedmodel

        with open(os.path.join(directory, savedmodel.INFO_PATH)) as f:
            info = json.load(f)
        self._loaded = tf.saved_model.load(directory)
        self._generate = self._loaded.signatures["deidentify_with_noise"]
        self._embed = self._loaded.signatures.get("embed")
        self.image_size, self.channels, self.noise_size = info["image_size"], info["channels"], info["noise_size"]
        self.threshold = info["verificator_threshold"] if self._embed is not None else None
        self.name = f"savedmodel:{directory}"

    def generate(self, faces, noise):
        return self._generate(images=faces, noise=noise.astype(np.float32))["deidentified"].numpy()

    def embed(self, faces):
        return self._embed(images=faces)["embedding"].numpy()


class _PortableBackend(Backend):
    """TFLite or ONNX: the generator file; the guard from the export's SavedModel, if any."""

    def __init__(self, path, generator):
        contract_path = path.rsplit(".", 1)[0] + ".json"
        export_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        guard = _latest_savedmodel(export_dir)
        if os.path.exists(contract_path):
            with open(contract_path) as f:
                contract = json.load(f)
            _, self.image_size, _, self.channels = contract["inputs"]["images"]["shape"]
            self.noise_size = contract["inputs"]["noise"]["shape"][1]
        elif guard:
            with open(os.path.join(guard, "assets.extra", "ppgan_export.json")) as f:
                info = json.load(f)
            self.image_size, self.channels, self.noise_size = info["image_size"], info["channels"], info["noise_size"]
        else:
            raise FileNotFoundError(f"{path}: no input contract (.json beside it) and no SavedModel export near it")
        self._guard = SavedModelBackend(guard) if guard else None
        self.threshold = self._guard.threshold if self._guard else None
        self._generator = generator
        self.name = path

    def generate(self, faces, noise):
        return self._generator(faces, noise)

    def embed(self, faces):
        return self._guard.embed(faces)


def _blessed(version_dir):
    try:
        with open(os.path.join(version_dir, "assets.extra", "ppgan_export.json")) as f:
            return json.load(f).get("blessed", False)
    except (OSError, ValueError):
        return False


def _latest_savedmodel(export_dir):
    """The newest blessed SavedModel version of an export, or None."""
    versions = [
        d for d in glob.glob(os.path.join(export_dir, "savedmodel", "*", "*"))
        if os.path.basename(d).isdigit() and os.path.exists(os.path.join(d, "saved_model.pb")) and _blessed(d)
    ]
    return max(versions, key=lambda d: int(os.path.basename(d))) if versions else None


def load_backend(path=None):
    """The backend for a work directory, SavedModel export, .tflite or .onnx file; None: the shipped model."""
    if path is None:
        from ppgan_tf import packaged

        if not packaged.has_packaged_model():
            raise FileNotFoundError("no pretrained model ships with this installation: give a model (--model)")
        return PackagedBackend()
    if os.path.exists(os.path.join(path, "model.json")) and not os.path.exists(os.path.join(path, "config.json")):
        return PackagedBackend(path)
    if path.endswith(".tflite"):
        from export.tflite import TFLiteGenerator

        return _PortableBackend(path, TFLiteGenerator(path))
    if path.endswith(".onnx"):
        from export.onnx_model import OnnxGenerator

        return _PortableBackend(path, OnnxGenerator(path))
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return SavedModelBackend(path)
    if os.path.exists(os.path.join(path, "config.json")):
        latest = _latest_savedmodel(os.path.join(path, "export"))
        return SavedModelBackend(latest) if latest else KerasBackend(path)
    raise FileNotFoundError(
        f"--model={path}: not a work directory, a SavedModel export, a .tflite or an .onnx file"
    )
