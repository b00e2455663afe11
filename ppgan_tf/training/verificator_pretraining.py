"""Pretraining the verificator V as a Siamese net, then saving it with its threshold."""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
import tqdm

from ppgan_tf import losses, metrics
from ppgan_tf.config import split_names
from ppgan_tf.data import pipeline
from ppgan_tf.models import LightCNN9, recognisers
from ppgan_tf.training import views

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


def embed_faces(verificator, images_uint8):
    """Embeddings of uint8 faces by a Keras verificator (through `embed`) or a pretrained recogniser (its own)."""
    return verificator.embed(images_uint8) if hasattr(verificator, "embed") else embed(verificator, images_uint8)


def pair_accuracy(embeddings, identities, num_pairs, seed=0):
    """Accuracy on balanced pairs of these embeddings, threshold chosen by 10-fold cross-validation."""
    first, second, same = pipeline.evaluation_pairs(identities, num_pairs, seed)
    distances = np.linalg.norm(embeddings[first] - embeddings[second], axis=-1)
    return metrics.ten_fold_threshold(distances, same, seed=seed)


def evaluate_verificator(verificator, faces, num_pairs, seed=0):
    """Accuracy on balanced test pairs, threshold chosen by 10-fold cross-validation."""
    return pair_accuracy(embed_faces(verificator, faces.images), faces.identities, num_pairs, seed)


def teacher_targets(teachers):
    """A function of faces in [-1, 1]: what the pretrained `teachers` make of them, as one unit vector.

    Each teacher's unit embedding, concatenated and scaled by 1/sqrt(teachers),
    so that the cosine between two targets is the mean of the teachers' cosines.
    """
    scale = 1.0 / np.sqrt(len(teachers))
    return lambda images: tf.concat([teacher(images) for teacher in teachers], axis=-1) * scale


def accuracy_by_dataset(embeddings, records, num_pairs, seed=0):
    """10-fold accuracy on each source dataset's own pairs (records with a `dataset` attribute)."""
    groups = {}
    for index, record in enumerate(records):
        if record.attribute("dataset"):
            groups.setdefault(record.attribute("dataset"), []).append(index)
    results = {}
    for name, indices in sorted(groups.items()):
        try:
            results[name] = pair_accuracy(embeddings[indices], [records[i].identity for i in indices],
                                          num_pairs, seed).accuracy
        except ValueError:  # no pairs in this source (one photo per person)
            continue
    return results


def _test_scores(verificator, test_faces, config):
    """(10-fold result on all test pairs, {source dataset: accuracy}) of V now."""
    embeddings = embed(verificator, test_faces.images)
    return (pair_accuracy(embeddings, test_faces.identities, config.test_pairs, config.seed),
            accuracy_by_dataset(embeddings, test_faces.records, config.test_pairs, config.seed))


def _learning_rate(config):
    """V's learning rate: constant, or cosine decay to zero at `verificator_steps`."""
    if config.verificator_decay == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.verificator_learning_rate, config.verificator_steps)
    return config.verificator_learning_rate


def train_verificator(config, train_faces, test_faces, out_dir, log=print, checkpoint_dir=None, log_dir=None):
    """Trains Light CNN-9 with the contrastive loss (and distillation from teachers) and saves it.

    With `config.verificator_teachers`, V also learns what the pretrained
    recognisers make of each training face. Both faces of every pair are
    first seen through a random view (rotation, scale, shift, blur, colour,
    grey; `views.random_views`), and the teachers embed that same view, so
    V meets a new exact target at every step rather than the same few
    thousand. A linear head maps V's embedding onto the teachers' (cosine
    loss), and V's own cosine similarities within the batch are pulled onto
    the teachers' (so its distances, which L_verif uses, follow theirs).
    Both weigh `config.distill_weight`. With `config.verificator_blend_share`,
    that share of the views is blended with another face first
    (`views.blended_faces`): the teachers' embeddings of blends are targets
    no training face gives, and pairs holding a blend leave the contrastive
    loss (their label no longer holds).

    With `checkpoint_dir`, V, its head, the optimiser and the step are saved
    every `config.checkpoint_every` steps and a rerun resumes from the latest
    (the batches after a resume are drawn afresh from the seed and the step);
    the test pair accuracy at each checkpoint goes to the log and, with
    `log_dir`, to TensorBoard (`verificator/test_accuracy`).

    Args:
        config: `RunConfig`; uses the verificator_* fields, distill_weight, margin, seed, checkpoint_every.
        train_faces, test_faces: `FaceSet`s from the run's split.
        out_dir: folder for `verificator.keras` and `verificator.json`.
        log: where progress lines go.
        checkpoint_dir: folder of the resumable state, or None to train in one go.
        log_dir: TensorBoard folder, or None.

    Returns:
        The info dict saved in `verificator.json` (threshold, accuracy, ...).
    """
    keras.utils.set_random_seed(config.seed)
    verificator = LightCNN9(
        channels=config.channels, width=config.verificator_width, embedding_dim=config.embedding_dim
    )
    verificator(tf.zeros([1, config.image_size, config.image_size, config.channels]))
    teacher_names = split_names(config.verificator_teachers)
    teachers = [recognisers.load_recogniser(name) for name in teacher_names]
    targets_of = teacher_targets(teachers) if teachers else None
    trained = verificator.trainable_variables
    head = None
    if targets_of is not None:
        target_size = sum(teacher.embedding_dim for teacher in teachers)
        head = keras.layers.Dense(target_size, use_bias=False, dtype="float32", name="teacher_head")
        head.build((None, config.embedding_dim))
        trained = trained + head.trainable_variables
    optimizer = keras.optimizers.Adam(_learning_rate(config))
    optimizer.build(trained)

    @tf.function(autograph=False)  # branches on the config only; AutoGraph would re-read the source at trace
    def train_step(images_a, images_b, same, view_seeds):
        labelled = tf.ones_like(tf.cast(same, tf.float32))  # pairs whose identity label still holds
        if targets_of is not None:
            both = views.random_views(tf.concat([images_a, images_b], axis=0), view_seeds)
            if config.verificator_blend_share:
                both, blended = views.blended_faces(both, view_seeds, config.verificator_blend_share)
                blended_a, blended_b = tf.split(blended, 2)
                labelled = (1.0 - blended_a) * (1.0 - blended_b)
            images_a, images_b = tf.split(both, 2)
            teacher = tf.stop_gradient(targets_of(both))
        with tf.GradientTape() as tape:
            embeddings_a = verificator(images_a, training=True)
            embeddings_b = verificator(images_b, training=True)
            contrastive = losses.contrastive_loss(embeddings_a, embeddings_b, same, config.margin)
            loss = tf.reduce_sum(contrastive * labelled) / tf.maximum(tf.reduce_sum(labelled), 1.0)
            if targets_of is not None:
                student = tf.concat([embeddings_a, embeddings_b], axis=0)
                distill = tf.reduce_mean(losses.embedding_distillation_loss(head(student), teacher))
                distill += tf.reduce_mean(losses.similarity_distillation_loss(student, teacher))
                loss += config.distill_weight * distill
        gradients = tape.gradient(optimizer.scale_loss(loss), trained)
        optimizer.apply(gradients, trained)
        return loss

    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    manager = None
    if checkpoint_dir:
        state = tf.train.Checkpoint(verificator=verificator, optimizer=optimizer, step=step,
                                    **({"head": head} if head is not None else {}))
        manager = tf.train.CheckpointManager(state, checkpoint_dir, max_to_keep=2)
        if manager.latest_checkpoint:
            state.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            log(f"verificator: resumed from step {int(step)} ({manager.latest_checkpoint})")
    writer = tf.summary.create_file_writer(log_dir) if log_dir else None
    start = int(step)
    # A resumed run draws new batches: its streams are seeded by where it starts.
    resumed_at = [start] if start else []
    batches = pipeline.pair_batches(
        train_faces.images, train_faces.identities, config.verificator_batch_size, [config.seed, *resumed_at]
    )
    view_seeds = np.random.default_rng([config.seed, 1, *resumed_at])
    started = time.time()
    progress = tqdm.trange(start, config.verificator_steps, initial=start, total=config.verificator_steps,
                           desc="verificator", unit="step", mininterval=2.0)
    for index in progress:
        seeds = view_seeds.integers(0, 2**62, 2 * config.verificator_batch_size)
        loss = train_step(*next(batches), seeds)
        step.assign(index + 1)
        progress.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
        if manager is not None and (index + 1) % config.checkpoint_every == 0:
            manager.save(checkpoint_number=index + 1)
            result, by_dataset = _test_scores(verificator, test_faces, config)
            accuracy = result.accuracy
            log(f"verificator: step {index + 1}, loss {float(loss):.4f}, test accuracy {accuracy:.3f}"
                + "".join(f", {name} {value:.3f}" for name, value in by_dataset.items()))
            if writer is not None:
                with writer.as_default(step=index + 1):
                    tf.summary.scalar("verificator/test_accuracy", accuracy)
                    for name, value in by_dataset.items():
                        tf.summary.scalar(f"verificator/test_accuracy_{name}", value)
                    tf.summary.scalar("verificator/loss", loss)
    seconds = time.time() - started

    result, by_dataset = _test_scores(verificator, test_faces, config)
    info = {
        "threshold": result.threshold,
        "test_accuracy": result.accuracy,
        "test_accuracy_by_dataset": by_dataset,
        "fold_accuracies": result.fold_accuracies,
        "steps": config.verificator_steps,
        "teachers": teacher_names,
        "pairs_per_second": (config.verificator_steps - start) * config.verificator_batch_size / max(seconds, 1e-9),
        "train_faces": len(train_faces.records),
        "test_faces": len(test_faces.records),
    }
    save_verificator(verificator, info, out_dir)
    log(
        f"verificator: test accuracy {result.accuracy:.3f} at distance threshold "
        f"{result.threshold:.3f} (10-fold), saved in {out_dir}"
    )
    for name, accuracy in info["test_accuracy_by_dataset"].items():
        log(f"verificator: test accuracy on {name} pairs {accuracy:.3f}")
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
