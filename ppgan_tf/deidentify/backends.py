"""The generator (and the verificator for the privacy guard) behind the de-identifier.

`load_backend(path)` accepts a work directory (its latest SavedModel export,
else its `generator.keras`), a SavedModel export, a `.tflite` or an `.onnx`
file. Every backend maps aligned uint8 faces and uniform noise to uint8
faces; the guard's verificator comes from the same export or work directory.
"""

import functools
import json
import os

import numpy as np

from ppgan_tf import layout, packaged
from ppgan_tf.deidentify import replace
from ppgan_tf.seeds import noise_of_seeds_numpy


class Backend:
    """Generator and (optional) verificator with the facts the pipeline needs.

    image_size, channels, noise_size: the generator's contract.
    threshold: verificator distance below which two faces match (None: no guard).
    luminance_only: the generator's identity change lives in the luminance (it
        trained against a verificator that saw grey faces, `verif_grey`), so the
        de-identifier keeps the photo's colours and takes only its luminance.
    """

    image_size = 128
    channels = 1
    noise_size = 0
    threshold = None
    luminance_only = False
    name = ""

    def generate(self, faces, noise):
        raise NotImplementedError

    def noise(self, seeds):
        """Uniform generator noise `[len(seeds), noise_size]`: the same seed, the same new face, in every format."""
        return noise_of_seeds_numpy(list(seeds), self.noise_size)

    def embed(self, faces):
        raise NotImplementedError

    def as_pasted(self, faces, fakes):
        """What the de-identifier pastes over uint8 `faces` for their generated `fakes`: with `luminance_only` and
        RGB faces, each fake's luminance under its face's colours; otherwise `fakes` themselves (the same object)."""
        if not (self.luminance_only and faces.shape[-1] == 3):
            return fakes
        return np.stack([replace.with_luminance_of(face, fake) for face, fake in zip(faces, fakes)])

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
        self._generator = keras.saving.load_model(os.path.join(workdir, layout.GENERATOR))
        self._verificator, info = verificator_pretraining.load_verificator(run.verificator_dir(config, workdir))
        self._embed = verificator_pretraining.embed
        self.image_size, self.channels = config.image_size, config.channels
        self.noise_size = self._generator.noise_size
        self.threshold = info["threshold"]
        self.luminance_only = config.verif_grey
        self.name = f"keras:{workdir}"

    def generate(self, faces, noise):
        return self._generator.deidentify(faces, noise=noise.astype(np.float32))

    def embed(self, faces):
        return self._embed(self._verificator, faces)


class PackagedBackend(Backend):
    """The pretrained model shipped inside the package (`ppgan_tf.packaged`), or one packaged the same way.

    Its generator runs from the package's TFLite file when it has one, so that
    de-identifying with the default SFace guard never loads TensorFlow;
    `portable=False` (or a package without it) runs the Keras generator.
    """

    def __init__(self, directory=None, portable=True):
        self._directory = directory
        info = packaged.load_info(directory)
        portable_path = packaged.portable_generator_path(directory) if portable else None
        if portable_path:
            self._generate = TFLiteGenerator(portable_path)
            self.noise_size = self._generate.noise_size
        else:
            generator = packaged.load_packaged_network("generator", directory)
            self._generate = lambda faces, noise: generator.deidentify(faces, noise=noise)
            self.noise_size = generator.noise_size
        self.image_size, self.channels = info["image_size"], info["channels"]
        self.threshold = info["verificator_threshold"]
        self.luminance_only = info.get("luminance_only", False)
        self.info = info
        self.name = f"packaged:{directory or packaged.PACKAGED_DIR}" + ("" if portable_path else " (keras)")

    def generate(self, faces, noise):
        return self._generate(faces, noise.astype(np.float32))

    def embed(self, faces):
        from ppgan_tf.training import verificator_pretraining

        return verificator_pretraining.embed(self._verificator, faces)

    @functools.cached_property
    def _verificator(self):
        # Loaded on first use: the default guard is SFace, so most runs never need it (nor TensorFlow).
        return packaged.load_packaged_network("verificator", self._directory)


class SavedModelBackend(Backend):
    def __init__(self, directory):
        import tensorflow as tf

        info = layout.read_export_info(directory)
        self._loaded = tf.saved_model.load(directory)
        self._generate = self._loaded.signatures["deidentify_with_noise"]
        self._embed = self._loaded.signatures.get("embed")
        self.image_size, self.channels, self.noise_size = info["image_size"], info["channels"], info["noise_size"]
        self.threshold = info["verificator_threshold"] if self._embed is not None else None
        self.luminance_only = info.get("luminance_only", False)
        self.name = f"savedmodel:{directory}"

    def generate(self, faces, noise):
        return self._generate(images=faces, noise=noise.astype(np.float32))["deidentified"].numpy()

    def embed(self, faces):
        return self._embed(images=faces)["embedding"].numpy()


class _PortableBackend(Backend):
    """TFLite or ONNX: the generator file; the guard from the export's SavedModel, if any."""

    def __init__(self, path, generator):
        contract_path = layout.portable_contract_path(path)
        export_dir = os.path.dirname(os.path.dirname(os.path.abspath(path)))
        guard = layout.latest_blessed_savedmodel(export_dir)
        if os.path.exists(contract_path):
            with open(contract_path) as f:
                contract = json.load(f)
            _, self.image_size, _, self.channels = contract["inputs"]["images"]["shape"]
            self.noise_size = contract["inputs"]["noise"]["shape"][1]
        elif guard:
            info = layout.read_export_info(guard)
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


class TFLiteGenerator:
    """Runs a TFLite generator one face at a time through its signature runner, on every core it may use."""

    def __init__(self, path):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=os.cpu_count())
        self.runner = self.interpreter.get_signature_runner(layout.SIGNATURE)
        self.noise_size = int(self.runner.get_input_details()["noise"]["shape"][1])

    def __call__(self, images, noise):
        outputs = [
            self.runner(images=images[i:i + 1], noise=noise[i:i + 1].astype(np.float32))["deidentified"]
            for i in range(len(images))
        ]
        return np.concatenate(outputs)


class OnnxGenerator:
    """Runs an ONNX generator one face at a time with onnxruntime."""

    def __init__(self, path):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])

    def __call__(self, images, noise):
        outputs = [
            self.session.run(["deidentified"], {"images": images[i:i + 1], "noise": noise[i:i + 1].astype(np.float32)})[0]
            for i in range(len(images))
        ]
        return np.concatenate(outputs)


def load_backend(path=None):
    """The backend for a work directory, SavedModel export, .tflite or .onnx file; None: the shipped model."""
    if path is None:
        if not packaged.has_packaged_model():
            raise FileNotFoundError("no pretrained model ships with this installation: give a model (--model)")
        return PackagedBackend()
    if packaged.has_packaged_model(path) and not layout.is_workdir(path):
        return PackagedBackend(path)
    if path.endswith(".tflite"):
        return _PortableBackend(path, TFLiteGenerator(path))
    if path.endswith(".onnx"):
        return _PortableBackend(path, OnnxGenerator(path))
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return SavedModelBackend(path)
    if layout.is_workdir(path):
        latest = layout.latest_blessed_savedmodel(os.path.join(path, layout.EXPORT))
        return SavedModelBackend(latest) if latest else KerasBackend(path)
    raise FileNotFoundError(
        f"--model={path}: not a work directory, a SavedModel export, a .tflite or an .onnx file"
    )
