"""Attribute preservation: classifiers trained on original faces, scored on de-identified ones (paper Fig. 5)."""

import keras
import numpy as np
import tensorflow as tf

from ppgan_tf.data import pipeline
from ppgan_tf.training.attribute_probes import fit_probe


class _Classifier:
    """What every attribute classifier reports, given its `predict`."""

    classes = ()

    def predict(self, images_uint8):
        raise NotImplementedError

    def accuracy(self, images_uint8, labels):
        return float(np.mean(np.array(self.predict(images_uint8)) == np.array(labels)))

    def kept_by_class(self, images_uint8, labels):
        """{class: share of the faces labelled so that read as it}: a flip one way shows here, not in the mean."""
        predicted, labels = np.array(self.predict(images_uint8)), np.array(labels)
        return {name: float(np.mean(predicted[labels == name] == name)) for name in self.classes
                if np.any(labels == name)}


class AttributeClassifier(_Classifier):
    """A small CNN predicting one categorical attribute (gender, age group, race) from a face.

    Example:
    >>> classifier = AttributeClassifier.train(faces_uint8, ["male", "female", ...], steps=500)
    >>> classifier.accuracy(deidentified_uint8, labels)
    """

    def __init__(self, model, classes):
        self.model = model
        self.classes = list(classes)

    @classmethod
    def train(cls, images_uint8, labels, steps=500, batch_size=32, learning_rate=1e-3, seed=0):
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"an attribute classifier needs 2+ classes, got {classes}")
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [keras.layers.Input(images_uint8.shape[1:])]
            + [layer for filters in (16, 32, 64, 128) for layer in (
                keras.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False),
                keras.layers.BatchNormalization(momentum=0.9),  # settles within short trainings
                keras.layers.ReLU())]
            + [keras.layers.GlobalAveragePooling2D(), keras.layers.Dropout(0.3), keras.layers.Dense(len(classes))]
        )
        optimizer = keras.optimizers.Adam(learning_rate)
        targets = np.array([classes.index(label) for label in labels])

        @tf.function(autograph=False)
        def step(images, targets):
            with tf.GradientTape() as tape:
                logits = model(images, training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
            optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
            return loss

        rng = np.random.default_rng(seed)
        for _ in range(steps):
            batch = rng.choice(len(images_uint8), size=min(batch_size, len(images_uint8)), replace=False)
            images = pipeline.to_model_range(images_uint8[batch])
            flips = rng.random(len(batch)) < 0.5
            images = tf.where(flips[:, None, None, None], tf.reverse(images, axis=[2]), images)
            step(images, tf.constant(targets[batch]))
        return cls(model, classes)

    def predict(self, images_uint8, batch_size=64):
        logits = [
            self.model(pipeline.to_model_range(images_uint8[i:i + batch_size]), training=False).numpy()
            for i in range(0, len(images_uint8), batch_size)
        ]
        return [self.classes[i] for i in np.argmax(np.concatenate(logits), axis=1)]


class EmbeddingAttributeClassifier(_Classifier):
    """A linear probe (`attribute_probes.fit_probe`) on a frozen pretrained recogniser's embeddings.

    Far stronger than the small CNN on few faces (gender on held-out LFW and UTKFace faces: 0.95 by FaceNet's
    embeddings, 0.76-0.81 by the CNN). Judge only with a recogniser the generator did not train against.

    Args:
        recogniser: a `recognisers.Recogniser` (e.g. `FaceNet()`).
        probe: its `LinearProbe`.

    Example:
    >>> classifier = EmbeddingAttributeClassifier.train(FaceNet(), faces_uint8, ["male", "female", ...])
    >>> classifier.kept_by_class(deidentified_uint8, labels)  # measured on an L_attr model's outputs
    {'female': 0.731, 'male': 0.962}
    """

    def __init__(self, recogniser, probe):
        self.recogniser = recogniser
        self.probe = probe
        self.classes = list(probe.classes)

    @classmethod
    def train(cls, recogniser, images_uint8, labels, attribute="attribute", seed=0):
        return cls(recogniser, fit_probe(attribute, recogniser.embed(images_uint8), list(labels), seed=seed))

    def predict(self, images_uint8):
        logits = self.probe.logits(self.recogniser.embed(images_uint8)).numpy()
        return [self.classes[i] for i in np.argmax(logits, axis=1)]
