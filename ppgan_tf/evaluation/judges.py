"""Judges of privacy that the generator never trained against.

- `FaceNetJudge`: a FaceNet-style residual embedding network, a different
  architecture from the training verificator, trained with the batch-hard
  triplet loss on the training split only (the paper fine-tunes FaceNet).
dlib's ResNet (`ppgan_tf.faces.recognition.DlibRecogniser`) and the pretrained
recognisers are the other judges. All map aligned uint8 faces to embeddings;
their thresholds are distances. `build_judges` is the registry the evaluation
takes judges from, by name (`JUDGES`).
"""

import dataclasses
import json
import os

import keras
import numpy as np
import tensorflow as tf
import tqdm

from ppgan_tf.data import pipeline
from ppgan_tf.faces import recognition
from ppgan_tf.models import recognisers
from ppgan_tf.training import verificator_pretraining


@keras.saving.register_keras_serializable(package="ppgan_tf")
class FaceNetEmbedder(keras.Model):
    """Residual CNN (BatchNorm, ReLU, global average pooling) giving unit embeddings.

    Args:
        channels: int, image channels.
        widths: filters of the residual stages; each halves the resolution.
        embedding_dim: int, size of the unit embedding.
        dtype: string or `keras.DTypePolicy`, passed to every sub-layer.
        **kwargs: standard `keras.Model` arguments.

    Example:
    >>> embedder = FaceNetEmbedder(channels=1)
    >>> embedder(keras.ops.zeros([2, 128, 128, 1])).shape
    TensorShape([2, 128])
    """

    def __init__(self, channels=1, widths=(32, 64, 128, 256), embedding_dim=128, dtype=None, **kwargs):
        super().__init__(dtype=dtype, **kwargs)

        # === Config ===
        self.channels = channels
        self.widths = tuple(widths)
        self.embedding_dim = embedding_dim

        # === Layers ===
        def conv_bn(filters, stride):
            return [
                keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, dtype=dtype),
                keras.layers.BatchNormalization(dtype=dtype),
            ]

        self.stem = keras.Sequential(
            [*conv_bn(self.widths[0], 2), keras.layers.ReLU(dtype=dtype)], name="stem"
        )
        self.residual_paths = []
        self.shortcuts = []
        for i, filters in enumerate(self.widths):
            self.residual_paths.append(
                keras.Sequential(
                    [*conv_bn(filters, 2), keras.layers.ReLU(dtype=dtype), *conv_bn(filters, 1)], name=f"stage_{i}"
                )
            )
            self.shortcuts.append(
                keras.Sequential(
                    [keras.layers.Conv2D(filters, 1, strides=2, use_bias=False, dtype=dtype),
                     keras.layers.BatchNormalization(dtype=dtype)],
                    name=f"shortcut_{i}",
                )
            )
        self.relu = keras.layers.ReLU(dtype=dtype)
        self.pool = keras.layers.GlobalAveragePooling2D(dtype=dtype)
        self.embedding = keras.layers.Dense(embedding_dim, dtype="float32", name="embedding")

    def call(self, inputs, training=None):
        x = self.stem(inputs, training=training)
        for path, shortcut in zip(self.residual_paths, self.shortcuts):
            x = self.relu(path(x, training=training) + shortcut(x, training=training))
        return tf.math.l2_normalize(self.embedding(self.pool(x)), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"channels": self.channels, "widths": list(self.widths), "embedding_dim": self.embedding_dim})
        return config


def batch_hard_triplet_loss(embeddings, labels, margin=0.2):
    """Mean over anchors of max(hardest positive distance - hardest negative distance + margin, 0).

    Hermans, Beyer & Leibe 2017; batches hold several faces of each person.
    """
    embeddings = tf.cast(embeddings, tf.float32)
    squared = tf.reduce_sum(tf.square(embeddings[:, None, :] - embeddings[None, :, :]), axis=-1)
    distances = tf.sqrt(squared + 1e-12)
    same = tf.equal(labels[:, None], labels[None, :])
    not_self = tf.logical_not(tf.eye(tf.shape(labels)[0], dtype=tf.bool))
    positives = tf.logical_and(same, not_self)
    hardest_positive = tf.reduce_max(tf.where(positives, distances, 0.0), axis=1)
    hardest_negative = tf.reduce_min(tf.where(same, 1e9, distances), axis=1)
    return tf.reduce_mean(tf.maximum(hardest_positive - hardest_negative + margin, 0.0))


def person_batches(identities, people, per_person, seed=0):
    """Endless index batches of `people` persons x `per_person` faces (persons with 2+ faces)."""
    groups = pipeline.indices_by_identity(identities)
    eligible = [g for g in groups.values() if len(g) >= 2]
    if len(eligible) < 2:
        raise ValueError("triplet training needs at least 2 people with 2+ faces")
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(min(people, len(eligible))), per_person)
    while True:
        chosen = rng.choice(len(eligible), size=min(people, len(eligible)), replace=False)
        indices = [rng.choice(eligible[c], size=per_person, replace=len(eligible[c]) < per_person) for c in chosen]
        yield np.concatenate(indices), labels


class FaceNetJudge:
    """The FaceNet-style judge: trained on the training split, thresholded on test pairs."""

    MODEL_FILENAME = "facenet_judge.keras"
    INFO_FILENAME = "facenet_judge.json"

    def __init__(self, model, threshold=None, info=None):
        self.model = model
        self.threshold = threshold
        self.info = info or {}
        self.name = "triplet"

    def embed(self, images_uint8):
        return verificator_pretraining.embed(self.model, images_uint8)

    @classmethod
    def train(cls, train_faces, steps=1000, people=8, per_person=4, learning_rate=1e-3, seed=0, log=print):
        keras.utils.set_random_seed(seed)
        channels = train_faces.images.shape[-1]
        model = FaceNetEmbedder(channels=channels)
        model(tf.zeros([1, *train_faces.images.shape[1:]]))
        optimizer = keras.optimizers.Adam(learning_rate)

        @tf.function(autograph=False)
        def step(images, labels):
            with tf.GradientTape() as tape:
                loss = batch_hard_triplet_loss(model(images, training=True), labels)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(gradients, model.trainable_variables)
            return loss

        batches = person_batches(train_faces.identities, people, per_person, seed)
        progress = tqdm.trange(steps, desc="facenet judge", unit="step", mininterval=2.0)
        for _ in progress:
            indices, labels = next(batches)
            images = pipeline.to_model_range(train_faces.images[indices])
            loss = step(images, tf.constant(labels))
            progress.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
        return cls(model, info={"steps": steps, "train_faces": len(train_faces.records)})

    def calibrate(self, test_faces, num_pairs=600, seed=0):
        """Chooses the threshold by 10-fold cross-validation on balanced test pairs; returns the accuracy."""
        result = verificator_pretraining.evaluate_verificator(self.model, test_faces, num_pairs, seed)
        self.threshold = result.threshold
        self.info.update(threshold=result.threshold, test_accuracy=result.accuracy)
        return result.accuracy

    def save(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.model.save(os.path.join(directory, self.MODEL_FILENAME))
        with open(os.path.join(directory, self.INFO_FILENAME), "w") as f:
            json.dump(self.info, f, indent=2)

    @classmethod
    def load(cls, directory):
        model = keras.saving.load_model(os.path.join(directory, cls.MODEL_FILENAME))
        with open(os.path.join(directory, cls.INFO_FILENAME)) as f:
            info = json.load(f)
        return cls(model, info.get("threshold"), info)


# === The registry ===

JUDGES = ("triplet", "dlib", "facenet", "sface")


@dataclasses.dataclass
class Judge:
    """One column of a report: a recogniser at a threshold, under a report name (dlib twice: 0.6 and 10-fold)."""

    name: str
    recogniser: object
    threshold: float
    test_accuracy: float = None


def _triplet(context):
    judge_dir = context["judge_dir"]
    if os.path.exists(os.path.join(judge_dir, FaceNetJudge.INFO_FILENAME)):
        judge = FaceNetJudge.load(judge_dir)
    else:  # trained once on the run's own training split, kept for every later evaluation
        run_train, run_test = context["run_faces"]()
        judge = FaceNetJudge.train(run_train, steps=context["facenet_steps"], seed=context["seed"], log=context["log"])
        judge.calibrate(run_test, context["test_pairs"], context["seed"])
        judge.save(judge_dir)
    return Judge("triplet", judge, judge.threshold, judge.info["test_accuracy"])


def _dlib(context):
    judge = recognition.DlibRecogniser()
    return Judge("dlib", judge, judge.PUBLISHED_THRESHOLD)


def _pretrained(name):
    def build(context):
        judge = recognisers.load_recogniser(name)
        return Judge(name, judge, judge.threshold)

    return build


_BUILDERS = {"triplet": _triplet, "dlib": _dlib, "facenet": _pretrained("facenet"), "sface": _pretrained("sface")}


def build_judges(names, trained_against=(), log=print, guarded_by=None, **context):
    """The judges named (from `JUDGES`), ready to embed: ([Judge], {refused name: why}).

    A recogniser the generator learnt from (in L_verif, or as its
    verificator's teacher) would judge what it taught, and the privacy
    guard's recogniser let through only what it no longer matches: both are
    refused. A judge whose package is missing is skipped with a message.

    Args:
        names: judge names, e.g. ("triplet", "dlib").
        trained_against: the recognisers the run trained against.
        guarded_by: the name of the recogniser the de-identifier's guard judged every output with, if any.
        **context: what the triplet judge needs when it is not trained yet:
            judge_dir, run_faces (a function giving the run's (train, test)
            faces), facenet_steps, seed, test_pairs; and log.

    Example:
    >>> judges, refused = build_judges(["dlib", "sface"], trained_against=["sface"])
    """
    unknown = [name for name in names if name not in _BUILDERS]
    if unknown:
        raise ValueError(f"unknown judges {unknown}; choose from {list(JUDGES)}")
    chosen, refused = [], {}
    for name in names:
        why = ("the generator trained against it" if name in trained_against
               else "the privacy guard passed only faces it no longer matched" if name == guarded_by else None)
        if why:
            refused[name] = why
            log(f"judge {name} refused: {why}")
            continue
        try:
            chosen.append(_BUILDERS[name](dict(context, log=log)))
        except ImportError as error:
            log(f"judge {name} skipped: {error}")
    return chosen, refused
