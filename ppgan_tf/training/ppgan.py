"""Training G and D against a frozen verificator: the PP-GAN step and loop."""

import hashlib
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
import tqdm

from ppgan_tf import layout, losses, packaged
from ppgan_tf.config import split_names
from ppgan_tf.data import pipeline
from ppgan_tf.faces import alignment
from ppgan_tf.models import PatchDiscriminator, ProjectedDiscriminator, UNetGenerator, patch_centres
from ppgan_tf.training import attribute_probes, runtime, summaries, views

AVERAGE = "generator_average"  # the checkpointed moving average of G's weights
LOSS_TERMS = ("generator_total", "adversarial", "verif", "sim", "shading", "attributes", "destination",
              "discriminator", "discriminator_accuracy", "r1", "lambda_verif")


def build_generator(config):
    """The run's G, built (its weights made) by one call on a zero face."""
    generator = UNetGenerator(
        image_size=config.image_size,
        channels=config.channels,
        base_filters=config.generator_base_filters,
        max_filters=config.generator_max_filters,
        dropout_rate=config.generator_dropout,
        upsampling=config.generator_upsampling,
        name="generator",
    )
    generator(tf.zeros([1, config.image_size, config.image_size, config.channels]), noise_seeds=tf.zeros([1], tf.int64))
    return generator


def build_discriminator(config, condition_size=0):
    if config.discriminator_backbone:
        return ProjectedDiscriminator(backbone=config.discriminator_backbone, filters=config.discriminator_base_filters,
                                      channels=config.channels, condition_size=condition_size, name="discriminator")
    return PatchDiscriminator(
        channels=config.channels, base_filters=config.discriminator_base_filters,
        downsampling_blocks=config.discriminator_blocks, name="discriminator",
    )


def restore_generator(config, checkpoint_dir, step):
    """G as a run's checkpoint of `step` holds it (float32), e.g. the step the monitor showed best, to package.

    The moving average of G's weights when the checkpoint keeps one
    (`generator_average_decay`), else G itself. Raises FileNotFoundError
    naming the steps there are when there is no checkpoint of `step`.
    """
    path = os.path.join(checkpoint_dir, f"ckpt-{step}")
    if not tf.io.gfile.exists(f"{path}.index"):
        state = tf.train.get_checkpoint_state(checkpoint_dir)
        kept = [int(name.rsplit("-", 1)[1]) for name in (state.all_model_checkpoint_paths if state else [])]
        raise FileNotFoundError(f"{checkpoint_dir}: no checkpoint of step {step} (kept: {kept or 'none'})")
    generator = build_generator(config)
    # The trainer's checkpoint keeps G's variables as flat lists under these names (see PPGANTrainer).
    name = AVERAGE if _holds(path, AVERAGE) else "generator"
    tf.train.Checkpoint(**{name: list(generator.variables)}).restore(path).expect_partial() \
        .assert_existing_objects_matched()
    return generator


def average_generator(config, checkpoint_dir, steps):
    """G with the mean of the weights of a run's checkpoints of `steps` (checkpoint averaging).

    Checkpoints of one run a few hundred steps apart lie close together, and
    their mean sits between the swings of the single ones. The noise seeds'
    state is the last checkpoint's. Raises FileNotFoundError as `restore_generator`.
    """
    generators = [restore_generator(config, checkpoint_dir, step) for step in steps]
    generator = generators[-1]
    for variable, *kept in zip(generator.variables, *(g.variables for g in generators)):
        if keras.backend.is_float_dtype(variable.dtype):
            variable.assign(np.mean([k.numpy() for k in kept], axis=0))
    return generator


def _holds(checkpoint_path, name):
    """Whether the checkpoint has the object `name` (at its root)."""
    return any(key.startswith(f"{name}/") for key, _ in tf.train.list_variables(checkpoint_path))


def face_patch_weights(discriminator, image_size, margin=0.2):
    """`[1, h, w, 1]` float32: 1 for D's patches centred on the aligned face (`alignment.face_box`), else 0."""
    side = discriminator(tf.zeros([1, image_size, image_size, discriminator.channels])).shape[1]
    centres = patch_centres(discriminator.conv_layers, side) / image_size
    top, left, bottom, right = alignment.face_box(margin)
    rows = (centres >= top) & (centres <= bottom)
    columns = (centres >= left) & (centres <= right)
    return tf.constant((rows[:, None] & columns[None, :])[None, :, :, None], tf.float32)


class PPGANTrainer:
    """Owns G, D, their optimisers and checkpoints, and trains them against V.

    Build and train inside one `tf.distribute` strategy; the frozen
    verificators must have been created in the same strategy's scope.

    Args:
        config: `RunConfig`.
        verificators: the frozen network L_verif uses (the run's `LightCNN9`),
            or a dict of named ones (e.g. {"lightcnn": V, "sface": SFace()}),
            whose losses are averaged: an ensemble.
        strategy: a `tf.distribute.Strategy`.
        checkpoint_dir: where checkpoints are written and resumed from.
        condition_classes: {attribute: its classes (`attribute_probes.known_classes`)} for each attribute of
            `config.discriminator_condition`, which sizes D's condition.
    """

    def __init__(self, config, verificators, strategy, checkpoint_dir, condition_classes=None):
        self.config = config
        self.condition_classes = {name: tuple((condition_classes or {}).get(name, ()))
                                  for name in split_names(config.discriminator_condition)}
        missing = [name for name, classes in self.condition_classes.items() if len(classes) < 2]
        if missing:
            raise ValueError(f"discriminator_condition={config.discriminator_condition!r}: fewer than two classes "
                             f"given for {missing} (condition_classes)")
        self.strategy = strategy
        self.verificators = dict(verificators) if isinstance(verificators, dict) else {"lightcnn": verificators}
        for verificator in self.verificators.values():
            verificator.trainable = False
        # The name of the verificator whose embeddings L_attr, D's condition and L_dest read: the first.
        self.probed_verificator = next(iter(self.verificators))
        shape = [1, config.image_size, config.image_size, config.channels]
        with strategy.scope():
            keras.utils.set_random_seed(config.seed)
            self.generator = build_generator(config)
            self.discriminator = build_discriminator(config, sum(map(len, self.condition_classes.values())))
            self.discriminator(tf.zeros(shape))
            self.generator_optimizer = runtime.make_optimizer(
                config.learning_rate, config.beta_1, keras.mixed_precision.dtype_policy().name
            )
            self.discriminator_optimizer = runtime.make_optimizer(
                self.discriminator_learning_rate, config.beta_1, keras.mixed_precision.dtype_policy().name
            )
            # Built inside the scope so their slots are mirrored like the weights.
            self.generator_optimizer.build(self.generator.trainable_variables)
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.generator_average = None
            if config.generator_average_decay:
                self.generator_average = build_generator(config)
                self.generator_average.set_weights(self.generator.get_weights())
        self.patch_weights = None
        if config.adversarial_region == "face":
            self.patch_weights = face_patch_weights(self.discriminator, config.image_size)
        # Keras 3 layers kept in Python lists are invisible to tf.train.Checkpoint's
        # object graph, so the models' variables are checkpointed as flat lists.
        self._checkpointed = dict(
            generator=list(self.generator.variables),
            discriminator=list(self.discriminator.variables),
            generator_optimizer=self.generator_optimizer,
            discriminator_optimizer=self.discriminator_optimizer,
            step=self.step,
        )
        if self.generator_average is not None:
            self._checkpointed[AVERAGE] = list(self.generator_average.variables)
        self.checkpoint = tf.train.Checkpoint(**self._checkpointed)
        self.checkpoint_manager = tf.train.CheckpointManager(
            self.checkpoint, checkpoint_dir, max_to_keep=config.keep_checkpoints
        )
        self._distributed_step = None
        self._cached_real_embeddings = {}
        self.attribute_probes = []
        self.destination_faces = None  # per training face, the index of its destination (`choose_destinations`)

    @property
    def discriminator_learning_rate(self):
        return self.config.discriminator_learning_rate or self.config.learning_rate

    # === Checkpoints ===

    def restore_latest(self):
        """Restores the latest checkpoint, if any; returns the step reached.

        The learning rates are the config's, not the checkpoint's: a run
        resumed with new rates trains with them.
        """
        latest = self.checkpoint_manager.latest_checkpoint
        if latest and self.generator_average is not None and not _holds(latest, AVERAGE):
            # A run that kept no average starts one from G where it stands.
            without_average = {name: value for name, value in self._checkpointed.items() if name != AVERAGE}
            tf.train.Checkpoint(**without_average).restore(latest).assert_existing_objects_matched()
            self.generator_average.set_weights(self.generator.get_weights())
        elif latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        if latest:
            self.generator_optimizer.learning_rate = self.config.learning_rate
            self.discriminator_optimizer.learning_rate = self.discriminator_learning_rate
        return int(self.step.numpy())

    def start_from_packaged(self, directory):
        """G takes a packaged model's weights and the step its training reached; checkpointed at once.

        D and both optimisers keep their fresh state. Raises ValueError when
        the packaged generator's shape differs from this run's.
        """
        generator = packaged.load_packaged_network("generator", directory)
        try:
            self.generator.set_weights(generator.get_weights())
        except ValueError as error:
            raise ValueError(f"init_from={directory}: its generator does not fit this run's ({error})") from None
        if self.generator_average is not None:
            self.generator_average.set_weights(generator.get_weights())
        self.step.assign(packaged.load_info(directory)["steps"])
        self.save_checkpoint()
        return int(self.step.numpy())

    def save_checkpoint(self):
        return self.checkpoint_manager.save(checkpoint_number=int(self.step.numpy()))

    # === The step ===

    def _replica_step(self, batch):
        """One G and one D update on this replica's share of the global batch."""
        config = self.config
        global_batch = config.batch_size
        real = batch["images"]
        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            fake = self.generator(real, training=True, noise_seeds=batch["noise_seeds"])
            condition = self._condition(real, batch)
            real_logits, r1 = self._real_logits_and_r1(real, condition)
            fake_logits = self._judge(fake, condition)
            adversarial = losses.generator_adversarial_loss(fake_logits, self.patch_weights)
            verificator_input = views.revert_regions(fake, real, batch["noise_seeds"], config.verif_revert_share)
            if config.verif_views:
                verificator_input = views.random_views(verificator_input, batch["noise_seeds"])
            generated = {name: self._embed(name, verificator_input) for name in self.verificators}
            verif = tf.add_n([
                losses.verificator_loss(self._real_embeddings(name, real, batch), generated[name], config.margin)
                for name in self.verificators
            ]) / len(self.verificators)
            sim = losses.ssim_loss(real, fake)
            # L_dest comes and grows with the identity term: no destination while G learns to reproduce faces.
            identity_ramp = losses.scheduled_lambda_verif(
                self.step + 1, 1.0, config.verif_warmup_steps, config.verif_ramp_steps
            )
            lambda_verif = config.lambda_verif * identity_ramp
            shading = (losses.shading_loss(real, fake, config.shading_sigma) if config.lambda_shading
                       else tf.zeros_like(sim))
            attributes = (self._attribute_loss(real, fake, batch) if self._probes(config.preserve_attributes)
                          else tf.zeros_like(sim))
            destination = (self._destination_loss(generated[self.probed_verificator], batch)
                           if self.destination_faces is not None else tf.zeros_like(sim))
            generator_total = losses.generator_objective(
                adversarial, verif, sim, config.setting, lambda_verif, config.lambda_sim
            ) + config.lambda_shading * shading + config.lambda_attributes * attributes \
                + config.lambda_destination * identity_ramp * destination
            discriminator = losses.discriminator_loss(real_logits, fake_logits, self.patch_weights) + r1
            generator_loss = tf.nn.compute_average_loss(generator_total, global_batch_size=global_batch)
            discriminator_loss = tf.nn.compute_average_loss(discriminator, global_batch_size=global_batch)
            generator_scaled = self.generator_optimizer.scale_loss(generator_loss)
            discriminator_scaled = self.discriminator_optimizer.scale_loss(discriminator_loss)

        generator_variables = self.generator.trainable_variables
        discriminator_variables = self.discriminator.trainable_variables
        self.generator_optimizer.apply(
            generator_tape.gradient(generator_scaled, generator_variables), generator_variables
        )
        self.discriminator_optimizer.apply(
            discriminator_tape.gradient(discriminator_scaled, discriminator_variables),
            discriminator_variables,
        )
        for _ in range(config.discriminator_steps - 1):
            self._discriminator_update(real, tf.stop_gradient(fake), condition)
        accuracy = losses.discriminator_accuracy(real_logits, fake_logits, self.patch_weights)
        terms = dict(zip(LOSS_TERMS, (generator_total, adversarial, verif, sim, shading, attributes, destination,
                                      discriminator, accuracy, r1, tf.fill(tf.shape(verif), lambda_verif))))
        # Sums over this replica divided by the global batch: summed over replicas, the mean.
        return {name: tf.reduce_sum(value) / global_batch for name, value in terms.items()}

    def _probes(self, attributes):
        return [probe for probe in self.attribute_probes if probe.attribute in split_names(attributes)]

    def _attribute_loss(self, real, fake, batch):
        """L_attr summed over the preserved attributes' probes, per example; they read the first verificator's
        embeddings."""
        name = self.probed_verificator
        original, generated = self._real_embeddings(name, real, batch), self._embed(name, fake)
        return tf.add_n([losses.attribute_loss(probe.logits(original), probe.logits(generated), probe.class_weights)
                         for probe in self._probes(self.config.preserve_attributes)])

    def _condition(self, real, batch):
        """D's condition for the batch: the probes' class probabilities of each real face x, joined (None without
        `discriminator_condition`); a generated face is judged given its x's."""
        probes = self._probes(self.config.discriminator_condition)
        if not probes:
            return None
        original = self._real_embeddings(self.probed_verificator, real, batch)
        return tf.concat([tf.nn.softmax(probe.logits(original)) for probe in probes], axis=-1)

    def _destination_loss(self, generated, batch):
        """L_dest of the batch: G(x)'s embedding (as L_verif scores it) against its destination's, flipped as x is."""
        cache = self._cached_real_embeddings[self.probed_verificator]
        rows = tf.gather(self.destination_faces, batch["face_indices"]) * 2 + tf.cast(batch["flipped"], tf.int64)
        return losses.destination_loss(tf.gather(cache, rows), generated, self.config.destination_margin)

    def choose_destinations(self, identities, labels_by_attribute=None):
        """Draws each training face's destination (seeded): a face of another person of the same group.

        The group joins, per attribute of `destination_group`, the face's label where `labels_by_attribute`
        ({attribute: a label per training face, '' when unknown}) knows it, else its probe's reading (fitted by
        `fit_attribute_probes`) on the cached embeddings, so faces without labels (LFW's race) get one too. A face
        whose group holds no other person takes a face of any other person. With `destination_confidence`, only
        faces each named probe reads as their group's class with at least its probability are drawn (where the
        group has any of another person). Of `destination_candidates` faces drawn, the one farthest from x (in the
        same embeddings) is taken. Returns {group: (faces, faces read as it confidently enough)}.
        """
        identities = np.asarray(identities)
        if len(set(identities.tolist())) < 2:
            raise ValueError("destination_group: the training faces hold one person; a destination is another")
        table = self._training_face_embeddings()
        probes = self._probes(self.config.destination_group)
        labels_by_attribute = labels_by_attribute or {}
        # Class indices follow the probes' sorted classes, so the groups come in the order of their names.
        classes = np.stack([probe.classes_of(table, labels_by_attribute.get(probe.attribute)) for probe in probes],
                           axis=1)
        readings, group_of_face = np.unique(classes, axis=0, return_inverse=True)
        group_of_face = group_of_face.reshape(-1)
        typical = np.ones(len(table), bool)
        least = self.config.destination_confidences()
        for probe, column in zip(probes, classes.T):
            if probe.attribute in least:
                probabilities = tf.nn.softmax(probe.logits(table)).numpy()
                typical &= probabilities[np.arange(len(table)), column] >= least[probe.attribute]
        rng = np.random.default_rng(self.config.seed)
        destinations = np.empty(len(identities), np.int64)
        for group in range(len(readings)):
            members = np.flatnonzero(group_of_face == group)
            for face in members:
                others = members[identities[members] != identities[face]]
                if typical[others].any():
                    others = others[typical[others]]
                if not len(others):
                    others = np.flatnonzero(identities != identities[face])
                drawn = rng.choice(others, size=min(self.config.destination_candidates, len(others)), replace=False)
                destinations[face] = drawn[np.argmax(np.linalg.norm(table[drawn] - table[face], axis=-1))]
        self.destination_faces = tf.constant(destinations)
        self._distributed_step = None  # retrace: the step reads the destinations
        sizes = np.bincount(group_of_face, minlength=len(readings))
        typical_sizes = np.bincount(group_of_face[typical], minlength=len(readings))
        return {"+".join(probe.classes[k] for probe, k in zip(probes, reading)): (int(size), int(typical_size))
                for reading, size, typical_size in zip(readings, sizes, typical_sizes)}

    def _training_face_embeddings(self):
        """The first verificator's cached embeddings of the training faces as they are (rows 2i, not the mirrors)."""
        return self._cached_real_embeddings[self.probed_verificator].numpy()[0::2]

    def fit_attribute_probes(self, labels_by_attribute):
        """Fits a `LinearProbe` per attribute on the cached embeddings of the training faces (as is, not mirrored).

        `labels_by_attribute`: {attribute: one label per training face, '' when unknown}; needs
        `cache_real_embeddings` first. The probes of `preserve_attributes` then enter every step's L_attr, those of
        `discriminator_condition` D's condition.
        """
        table = self._training_face_embeddings()
        self.attribute_probes = [attribute_probes.fit_probe(attribute, table, labels, seed=self.config.seed,
                                                            balanced=self.config.balance_attributes)
                                 for attribute, labels in labels_by_attribute.items()]
        for probe in self._probes(self.config.discriminator_condition):
            if probe.classes != self.condition_classes[probe.attribute]:
                raise ValueError(f"{probe.attribute}: the probe reads {probe.classes}, D was built for "
                                 f"{self.condition_classes[probe.attribute]}")
        self._distributed_step = None  # retrace: the step reads the probes
        return self.attribute_probes

    def _embed(self, name, faces):
        """The frozen verificator `name`'s embeddings of `faces` as L_verif shows them (grey with `verif_grey`)."""
        return self.verificators[name](views.grey(faces) if self.config.verif_grey else faces, training=False)

    def _real_embeddings(self, name, real, batch):
        """V's embeddings of the batch's real faces: looked up when cached, else computed."""
        cache = self._cached_real_embeddings.get(name)
        if cache is not None and "face_indices" in batch:
            return tf.gather(cache, batch["face_indices"] * 2 + tf.cast(batch["flipped"], tf.int64))
        return self._embed(name, real)

    def cache_real_embeddings(self, images_uint8, batch_size=64, path=None):
        """Embeds every training face and its mirror once with each frozen verificator.

        The real faces' embeddings then come from a table indexed by the
        batch's "face_indices" and "flipped" (`pipeline.gan_dataset`) instead of
        a forward pass each step: the same values, since V is frozen and the
        flip is the only change the pipeline makes to a real face.

        Args:
            images_uint8: the training faces, in the order the dataset indexes them.
            batch_size: faces embedded at once.
            path: an .npz file keeping the table for a resumed run; it is used
                when it was made from the same faces and the verificators
                still give its first rows, else rebuilt. Returns True if used.
        """
        digest = hashlib.sha256(np.ascontiguousarray(images_uint8).tobytes()).hexdigest() if path else None
        table = self._stored_real_embeddings(path, digest, images_uint8) if path else None
        loaded = table is not None
        if not loaded:
            table = {name: self._embed_with_mirrors(name, images_uint8, batch_size) for name in self.verificators}
            if path:
                partial = f"{path}.{os.getpid()}.partial.npz"  # workers of one run may write it at once
                np.savez(partial, faces_sha256=digest, **table)
                os.replace(partial, path)
        self._cached_real_embeddings = {name: tf.constant(rows) for name, rows in table.items()}
        self._distributed_step = None  # retrace: the step reads the new table
        return loaded

    def _embed_with_mirrors(self, name, images_uint8, batch_size=64):
        """float32 rows 2i (face i) and 2i + 1 (its mirror) of the verificator `name`."""
        embed = tf.function(lambda faces: tf.cast(self._embed(name, faces), tf.float32), autograph=False)
        rows = []
        for start in range(0, len(images_uint8), batch_size):
            faces = pipeline.to_model_range(images_uint8[start:start + batch_size])
            both = tf.stack([faces, tf.reverse(faces, [2])], axis=1)  # [n, 2 (as is, mirrored), H, W, C]
            rows.append(embed(tf.reshape(both, [-1, *faces.shape[1:]])).numpy())
        return np.concatenate(rows)

    def _stored_real_embeddings(self, path, digest, images_uint8, checked_faces=4, tolerance=0.05):
        """The table stored at `path` if it belongs to these faces and verificators, else None."""
        if not os.path.exists(path):
            return None
        with np.load(path) as stored:
            if str(stored["faces_sha256"]) != digest or set(stored.files) != {"faces_sha256", *self.verificators}:
                return None
            table = {name: stored[name] for name in self.verificators}
        for name, rows in table.items():  # a verificator changed since (new V, new code) gives other rows
            fresh = self._embed_with_mirrors(name, images_uint8[:checked_faces])
            if rows.shape[0] != 2 * len(images_uint8) or np.abs(fresh - rows[:len(fresh)]).max() > tolerance:
                return None
        return table

    def _judge(self, images, condition):
        """D's logits, in training mode; a conditioned D is given the condition."""
        if condition is None:
            return self.discriminator(images, training=True)
        return self.discriminator(images, condition=condition, training=True)

    def _real_logits_and_r1(self, real, condition=None):
        """D's logits on the real faces, and the per-example R1 penalty (0 without `r1_weight`)."""
        if not self.config.r1_weight:
            return self._judge(real, condition), tf.zeros(tf.shape(real)[:1])
        with tf.GradientTape() as input_tape:
            input_tape.watch(real)
            logits = self._judge(real, condition)
            verdicts = tf.reduce_sum(losses.discriminator_output(logits, self.patch_weights))
        return logits, losses.r1_penalty(input_tape.gradient(verdicts, real), self.config.r1_weight)

    def _discriminator_update(self, real, fake, condition=None):
        """One more D update on the same faces (G fixed)."""
        variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            real_logits, r1 = self._real_logits_and_r1(real, condition)
            loss = losses.discriminator_loss(real_logits, self._judge(fake, condition),
                                             self.patch_weights) + r1
            scaled = self.discriminator_optimizer.scale_loss(
                tf.nn.compute_average_loss(loss, global_batch_size=self.config.batch_size))
        self.discriminator_optimizer.apply(tape.gradient(scaled, variables), variables)

    def train_step(self, distributed_batch):
        """One distributed step; returns the global-batch mean of every loss term."""
        if self._distributed_step is None:

            # No AutoGraph: the step branches on the config only, and AutoGraph reads the source again when it
            # traces, so editing the checkout under a running job would trace whatever code now stands there.
            @tf.function(autograph=False)
            def distributed_step(batch):
                per_replica = self.strategy.run(self._replica_step, args=(batch,))
                if self.generator_average is not None:
                    self._update_average()
                self.step.assign_add(1)
                return {
                    name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                    for name, value in per_replica.items()
                }

            self._distributed_step = distributed_step
        return self._distributed_step(distributed_batch)

    def _update_average(self):
        """average <- decay * average + (1 - decay) * G, for each float variable (the noise seeds' state is copied)."""
        decay = self.config.generator_average_decay
        for average, weight in zip(self.generator_average.variables, self.generator.variables):
            average.assign(decay * average + (1.0 - decay) * weight if keras.backend.is_float_dtype(weight.dtype)
                           else weight)

    def distribute(self, dataset):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))

    # === Inference ===

    @property
    def output_generator(self):
        """The generator a run's samples, monitor and saved model come from: the moving average if kept, else G."""
        return self.generator if self.generator_average is None else self.generator_average

    def deidentify(self, images_uint8, noise_seeds):
        """De-identified uint8 faces of uint8 faces, noise fixed by one seed per face."""
        return self.output_generator.deidentify(images_uint8, noise_seeds)

    # === The loop ===

    def fit(self, train_images, sample_images, workdir, chief=True, log=print, monitor=None, attribute_labels=None,
            repeats=None, identities=None):
        """Trains from the latest checkpoint up to `config.steps`.

        Writes checkpoints, TensorBoard scalars and sample grids (PNG files
        under WORKDIR/samples and in TensorBoard); only the chief writes logs
        and samples. With each grid, `monitor()` (a dict of numbers, e.g.
        `run.generator_monitor`) is logged to TensorBoard and appended to
        WORKDIR/monitor.jsonl, so a run of days shows where it is going.
        `attribute_labels` ({attribute: a label per training face}) fits the
        probes of L_attr when the config preserves attributes; `repeats` (visits per epoch of each training face,
        `pipeline.gan_dataset`) oversamples some; `identities` (a person per training face) are needed for L_dest's
        destinations. Returns (steps trained now, images per second).
        """
        config = self.config
        start = self.restore_latest()
        if start >= config.steps:
            log(f"already at step {start} of {config.steps}: nothing to train")
            return 0, 0.0
        if start:
            log(f"resuming from step {start}")
        started = time.perf_counter()
        stored = self.cache_real_embeddings(train_images, path=os.path.join(workdir, layout.REAL_EMBEDDINGS))
        log(f"{'read' if stored else 'embedded'} the verificators' embeddings of the {len(train_images)} training "
            f"faces and their mirrors in {time.perf_counter() - started:.0f} s")
        if config.lambda_attributes or config.discriminator_condition or config.lambda_destination:
            for probe in self.fit_attribute_probes(attribute_labels):
                uses = [use for use, names in (("L_attr", config.preserve_attributes),
                                               ("D's condition", config.discriminator_condition),
                                               ("L_dest", config.destination_group))
                        if probe.attribute in split_names(names)]
                log(f"{' and '.join(uses)} probe of {probe.attribute} {list(probe.classes)}: held-out accuracy "
                    f"{probe.held_out_accuracy:.3f}, class weights {[round(float(w), 2) for w in probe.class_weights]}")
        if config.lambda_destination:
            if identities is None:
                raise ValueError("lambda_destination: fit needs the training faces' identities to draw destinations")
            log(f"L_dest destinations drawn within the groups of {config.destination_group} (labels, else the probes' "
                f"reading; group: (faces, those read as it at least as surely as {config.destination_confidence!r})): "
                f"{self.choose_destinations(identities, attribute_labels)}")
        dataset = pipeline.gan_dataset(
            train_images, config.batch_size, seed=config.seed, start_step=start, flip=config.flip, repeats=repeats
        )
        iterator = iter(self.distribute(dataset))
        writer = tf.summary.create_file_writer(os.path.join(workdir, layout.LOGS)) if chief else None
        sample_seeds = np.arange(len(sample_images), dtype=np.int64)

        progress = tqdm.tqdm(
            total=config.steps, initial=start, desc="ppgan", unit="step",
            disable=not chief, mininterval=2.0,
        )
        timed_images, timed_seconds = 0, 0.0
        for step in range(start + 1, config.steps + 1):
            started = time.perf_counter()
            terms = self.train_step(next(iterator))
            terms = {name: float(value) for name, value in terms.items()}
            if step > start + 1:  # the first step includes tracing
                timed_seconds += time.perf_counter() - started
                timed_images += config.batch_size
            images_per_second = timed_images / timed_seconds if timed_seconds else 0.0
            progress.update(1)
            progress.set_postfix(
                G=f"{terms['generator_total']:.3f}", D=f"{terms['discriminator']:.3f}",
                verif=f"{terms['verif']:.3f}", sim=f"{terms['sim']:.3f}",
                img_s=f"{images_per_second:.1f}", refresh=False,
            )
            if writer and (step % config.summary_every == 0 or step == config.steps):
                with writer.as_default(step=step):
                    for name, value in terms.items():
                        tf.summary.scalar(f"losses/{name}", value)
                    tf.summary.scalar("speed/images_per_second", images_per_second)
            if chief and (step % config.sample_every == 0 or step == config.steps):
                self.write_samples(sample_images, sample_seeds, workdir, step, writer)
                if monitor is not None:
                    self.write_monitor(monitor(), workdir, step, writer)
            if step % config.checkpoint_every == 0 or step == config.steps:
                self.save_checkpoint()
        progress.close()
        if writer:
            writer.flush()
        return config.steps - start, (timed_images / timed_seconds if timed_seconds else 0.0)

    def write_monitor(self, values, workdir, step, writer=None):
        """Appends `{"step": step, **values}` to WORKDIR/monitor.jsonl and logs the values as monitor/<name>."""
        with open(os.path.join(workdir, layout.MONITOR), "a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if writer:
            with writer.as_default(step=step):
                for name, value in values.items():
                    tf.summary.scalar(f"monitor/{name}", value)

    def write_samples(self, images_uint8, noise_seeds, workdir, step, writer=None):
        fakes = self.deidentify(images_uint8, noise_seeds)
        grid = summaries.comparison_grid(images_uint8, fakes)
        path = summaries.write_png(os.path.join(workdir, layout.SAMPLES, f"step_{step:07d}.png"), grid)
        if writer:
            with writer.as_default(step=step):
                tf.summary.image("originals_over_deidentified", grid[None])
        return path
