"""Pretraining the verificator V as a Siamese net, then saving it with its threshold."""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
import tqdm

from ppgan_tf import losses
from ppgan_tf.data import pipeline
from ppgan_tf.evaluation import metrics
from ppgan_tf.models import LightCNN9

MODEL_FILENAME = "verificator.keras"
INFO_FILENAME = "verificator.json"


def embed(verificator, images_uint8, batch_size=64):
    """Unit embeddings of uint8 faces, as a float32 numpy array.

    Every chunk is padded to `batch_size`, so the model's compiled predict
    function serves all calls with one trace.
    """
    chunks = []
    for i in range(0, len(images_uint8), batch_size):
        chunk = pipeline.to_model_range(images_uint8[i:i + batch_size]).numpy()
        padding = batch_size - len(chunk)
        padded = np.concatenate([chunk, np.zeros((padding, *chunk.shape[1:]), chunk.dtype)]) if padding else chunk
        chunks.append(np.asarray(verificator.predict_on_batch(padded), np.float32)[:len(chunk)])
    return np.concatenate(chunks) if chunks else np.zeros((0, verificator.embedding_dim), np.float32)


def evaluate_verificator(verificator, faces, num_pairs, seed=0):
    """Accuracy on balanced test pairs, threshold chosen by 10-fold cross-validation."""
    first, second, same = pipeline.evaluation_pairs(faces.identities, num_pairs, seed)
    embeddings = embed(verificator, faces.images)
    distances = np.linalg.norm(embeddings[first] - embeddings[second], axis=-1)
    return metrics.ten_fold_threshold(distances, same, seed=seed)


def train_verificator(config, train_faces, test_faces, out_dir, log=print):
    """Trains Light CNN-9 with the contrastive loss and saves it into `out_dir`.

    Args:
        config: `RunConfig`; uses the verificator_* fields, margin, seed.
        train_faces, test_faces: `FaceSet`s from the run's split.
        out_dir: folder for `verificator.keras` and `verificator.json`.
        log: where progress lines go.

    Returns:
        The info dict saved in `verificator.json` (threshold, accuracy, ...).
    """
    keras.utils.set_random_seed(config.seed)
    verificator = LightCNN9(
        channels=config.channels, width=config.verificator_width, embedding_dim=config.embedding_dim
    )
    verificator(tf.zeros([1, config.image_size, config.image_size, config.channels]))
    optimizer = keras.optimizers.Adam(config.verificator_learning_rate)

    @tf.function
    def train_step(images_a, images_b, same):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                losses.contrastive_loss(
                    verificator(images_a, training=True),
                    verificator(images_b, training=True),
                    same,
                    config.margin,
                )
            )
        gradients = tape.gradient(optimizer.scale_loss(loss), verificator.trainable_variables)
        optimizer.apply(gradients, verificator.trainable_variables)
        return loss

    batches = pipeline.pair_batches(
        train_faces.images, train_faces.identities, config.verificator_batch_size, config.seed
    )
    started = time.time()
    progress = tqdm.trange(config.verificator_steps, desc="verificator", unit="step", mininterval=2.0)
    for _ in progress:
        loss = train_step(*next(batches))
        progress.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
    seconds = time.time() - started

    result = evaluate_verificator(verificator, test_faces, config.test_pairs, config.seed)
    info = {
        "threshold": result.threshold,
        "test_accuracy": result.accuracy,
        "fold_accuracies": result.fold_accuracies,
        "steps": config.verificator_steps,
        "pairs_per_second": config.verificator_steps * config.verificator_batch_size / seconds,
        "train_faces": len(train_faces.records),
        "test_faces": len(test_faces.records),
    }
    save_verificator(verificator, info, out_dir)
    log(
        f"verificator: test accuracy {result.accuracy:.3f} at distance threshold "
        f"{result.threshold:.3f} (10-fold), saved in {out_dir}"
    )
    return info


def save_verificator(verificator, info, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    verificator.save(os.path.join(out_dir, MODEL_FILENAME))
    with open(os.path.join(out_dir, INFO_FILENAME), "w") as f:
        json.dump(info, f, indent=2)


def load_verificator(directory):
    """The frozen verificator saved in `directory`, and its info (threshold, accuracy)."""
    model_path = os.path.join(directory, MODEL_FILENAME)
    info_path = os.path.join(directory, INFO_FILENAME)
    for path in (model_path, info_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no trained verificator here (run trainers.train_verificator)")
    verificator = keras.saving.load_model(model_path)
    verificator.trainable = False
    with open(info_path) as f:
        info = json.load(f)
    return verificator, info
