"""Linear probes reading a face attribute (gender, race, ...) off a frozen verificator's embeddings.

The identity term pushes G(x)'s embedding away from x's in every direction, the attributes' among them: trained
against SFace with a projected D, G read half the held-out women as men. A probe fitted on the labelled training
faces gives those directions a price in L_attr (`losses.attribute_loss`), which holds G(x)'s reading to x's.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from ppgan_tf.data.records import labelled


@dataclasses.dataclass(frozen=True)
class LinearProbe:
    """Softmax regression on embeddings: `classes` read by `logits(embeddings)`.

    Args:
        attribute: the manifest attribute it reads, e.g. "gender".
        classes: its labels, in the order of the logits.
        weights: `[embedding_dim, len(classes)]` float32.
        bias: `[len(classes)]` float32.
        held_out_accuracy: its accuracy on the labelled faces it was not fitted on.
        class_weights: `[len(classes)]` float32, what a face of each class weighed in the fit and weighs in L_attr:
            all 1, or (balanced) the inverse of the class's share of the labelled faces over the number of classes.

    Example:
    >>> probe = fit_probe("gender", embeddings, ["male", "female", "", ...])
    >>> probe.logits(embeddings).shape
    TensorShape([N, 2])
    """

    attribute: str
    classes: tuple
    weights: np.ndarray
    bias: np.ndarray
    held_out_accuracy: float
    class_weights: np.ndarray

    def logits(self, embeddings):
        return tf.matmul(tf.cast(embeddings, tf.float32), self.weights) + self.bias

    def classes_of(self, embeddings, labels=None):
        """Each face's class index: its label where `labels` (one per face) knows it, else the probe's reading."""
        indices = np.argmax(self.logits(embeddings), axis=-1)
        known = labelled(labels) if labels is not None else []
        indices[known] = [self.classes.index(labels[i]) for i in known]
        return indices


def known_classes(labels):
    """The classes a probe of these labels reads, in the order of its logits: the known labels, sorted."""
    return tuple(sorted({labels[i] for i in labelled(labels)}))


def fit_probe(attribute, embeddings, labels, steps=500, learning_rate=4.0, l2=1e-4, held_out=0.2, seed=0,
              balanced=False):
    """A `LinearProbe` fitted by full-batch gradient descent on the faces whose label is known.

    A share `held_out` of them (seeded) is kept out of the fit to measure it; `balanced` weighs each class alike
    (see `LinearProbe.class_weights`), so a minority class is not read as the majority where they overlap. Raises
    ValueError naming the attribute when fewer than two classes carry labels.
    """
    known = labelled(labels)
    classes = known_classes(labels)
    if len(classes) < 2:
        raise ValueError(f"attribute {attribute!r}: the training faces carry {len(classes)} known class(es) "
                         f"{list(classes)}; a probe needs two or more")
    order = np.random.default_rng(seed).permutation(known)
    x = np.asarray(embeddings, np.float32)[order]
    targets = np.array([classes.index(labels[i]) for i in order])
    cut = int(len(order) * held_out)  # the first `cut` faces of the seeded order measure the fit
    x_train, one_hot = x[cut:], np.eye(len(classes), dtype=np.float32)[targets[cut:]]
    shares = np.bincount(targets, minlength=len(classes)) / len(targets)
    class_weights = (1.0 / (len(classes) * shares) if balanced else np.ones(len(classes))).astype(np.float32)
    face_weights = one_hot @ class_weights
    weights = np.zeros((x.shape[1], len(classes)), np.float32)
    bias = np.zeros(len(classes), np.float32)
    for _ in range(steps):
        logits = x_train @ weights + bias
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        error = (p / p.sum(axis=1, keepdims=True) - one_hot) * face_weights[:, None]
        weights -= learning_rate * (x_train.T @ error / len(x_train) + l2 * weights)
        bias -= learning_rate * error.mean(axis=0)
    accuracy = float(np.mean(np.argmax(x[:cut] @ weights + bias, axis=1) == targets[:cut])) if cut else 0.0
    return LinearProbe(attribute, classes, weights, bias, accuracy, class_weights)
