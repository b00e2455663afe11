"""PP-GAN losses: small pure functions returning one value per example.

Per-example values let the training step average over the *global* batch
(`tf.nn.compute_average_loss`), which keeps distributed training equal to
training on one device. Images are in [-1, 1].
"""

import math

import tensorflow as tf

# The paper's four settings: which of the verificator (identity) and
# regulator (SSIM) terms join the adversarial loss.
SETTINGS = {
    "cgan": {"verif": False, "sim": False},
    "cgan_sim": {"verif": False, "sim": True},
    "cgan_verif": {"verif": True, "sim": False},
    "ppgan": {"verif": True, "sim": True},
}


def _mean_per_example(values, weights=None):
    """Mean of each example's values, or their mean weighted by `weights` (broadcast to them)."""
    values = tf.cast(values, tf.float32)
    if weights is None:
        return tf.reduce_mean(tf.reshape(values, [tf.shape(values)[0], -1]), axis=1)
    weights = tf.broadcast_to(tf.cast(weights, tf.float32), tf.shape(values))
    axes = tf.range(1, tf.rank(values))
    return tf.reduce_sum(values * weights, axis=axes) / tf.reduce_sum(weights, axis=axes)


def discriminator_loss(real_logits, fake_logits, patch_weights=None):
    """Cross-entropy of D on real faces (label 1) and generated ones (label 0).

    Args:
        real_logits, fake_logits: D's patch logits `[batch, h, w, 1]`.
        patch_weights: optional weights of the patches (broadcast to the
            logits, e.g. `[1, h, w, 1]`); None weighs every patch alike.
    """
    real_logits = tf.cast(real_logits, tf.float32)
    fake_logits = tf.cast(fake_logits, tf.float32)
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return _mean_per_example(real, patch_weights) + _mean_per_example(fake, patch_weights)


def generator_adversarial_loss(fake_logits, patch_weights=None):
    """Non-saturating generator loss: cross-entropy of D calling fakes real (patches weighted as in D's loss)."""
    fake_logits = tf.cast(fake_logits, tf.float32)
    return _mean_per_example(
        tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits), patch_weights
    )


def r1_penalty(input_gradients, weight):
    """R1 (Mescheder et al. 2018): weight / 2 times the squared gradient norm of D's output at real images.

    Keeps D smooth around real faces, so G cannot fool it with a small
    perturbation along its gradient; per example.

    Args:
        input_gradients: gradient of each example's D output with respect to its real image.
        weight: gamma.
    """
    gradients = tf.cast(input_gradients, tf.float32)
    return 0.5 * weight * tf.reduce_sum(tf.square(gradients), axis=tf.range(1, tf.rank(gradients)))


def discriminator_output(logits, patch_weights=None):
    """D's verdict on each example: the mean of its patch logits, weighted as its loss."""
    return _mean_per_example(logits, patch_weights)


def discriminator_accuracy(real_logits, fake_logits, patch_weights=None):
    """Share of patches D gets right (real > 0, fake < 0), per example, weighted as its loss."""
    right_real = tf.cast(tf.cast(real_logits, tf.float32) > 0, tf.float32)
    right_fake = tf.cast(tf.cast(fake_logits, tf.float32) < 0, tf.float32)
    return 0.5 * (_mean_per_example(right_real, patch_weights) + _mean_per_example(right_fake, patch_weights))


def embedding_distance(embeddings_a, embeddings_b):
    """Euclidean distance between embeddings, with a gradient defined at 0."""
    diff = tf.cast(embeddings_a, tf.float32) - tf.cast(embeddings_b, tf.float32)
    return tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1) + 1e-12)


def contrastive_loss(embeddings_a, embeddings_b, same, margin=2.0):
    """Contrastive loss (Hadsell et al. 2006; PP-GAN eq. 4).

    1/2 d^2 for pairs of the same person, 1/2 max(margin - d, 0)^2 for
    different people, d the distance between the (L2-normalised) embeddings.
    With unit embeddings d <= 2, so margin 2 pushes different people to
    opposite directions.

    Args:
        embeddings_a, embeddings_b: float `[batch, dim]`.
        same: `[batch]`, 1 for the same person, 0 for different people.
        margin: float.
    """
    distance = embedding_distance(embeddings_a, embeddings_b)
    same = tf.cast(same, tf.float32)
    hinge = tf.maximum(margin - distance, 0.0)
    return 0.5 * (same * tf.square(distance) + (1.0 - same) * tf.square(hinge))


def verificator_loss(original_embeddings, generated_embeddings, margin=2.0):
    """L_verif: contrastive loss on (x, G(x)), always labelled "different person"."""
    different = tf.zeros(tf.shape(original_embeddings)[:1])
    return contrastive_loss(original_embeddings, generated_embeddings, different, margin)


def destination_loss(destination_embeddings, generated_embeddings, margin=1.2):
    """L_dest: 1/2 max(d - margin, 0)^2, d from G(x)'s embedding to its destination's (another person's), per example.

    The contrastive loss's "same person" half, stopped at `margin`: G(x) is drawn towards that person's
    neighbourhood, not onto them.
    """
    distance = embedding_distance(destination_embeddings, generated_embeddings)
    return 0.5 * tf.square(tf.maximum(distance - margin, 0.0))


def ssim(images_a, images_b):
    """SSIM per image pair (`tf.image.ssim`), images in [-1, 1].

    SSIM's luminance term assumes non-negative intensities: on [-1, 1] an
    image and its negative would score high. So images are mapped to [0, 1].
    """
    to_unit = lambda images: (tf.cast(images, tf.float32) + 1.0) * 0.5  # noqa: E731
    return tf.image.ssim(to_unit(images_a), to_unit(images_b), max_val=1.0)


def ssim_loss(images_a, images_b):
    """L_sim, the regulator: 1/2 (1 - SSIM)."""
    return 0.5 * (1.0 - ssim(images_a, images_b))


def shading_loss(images_a, images_b, sigma=4.0):
    """L1 between the two images' luminance after a Gaussian blur of `sigma` pixels, per example.

    What the blur keeps is the shading of whole regions: a generator held to it may redraw a face's edges and
    features, but not darken the band over the eyes or brighten the nose, the paint that fools a recogniser.
    """
    def luminance(images):
        images = tf.cast(images, tf.float32)
        return tf.image.rgb_to_grayscale(images) if images.shape[-1] == 3 else images

    radius = max(1, int(math.ceil(3.0 * sigma)))
    taps = tf.exp(-0.5 * tf.square(tf.range(-radius, radius + 1, dtype=tf.float32) / sigma))
    taps /= tf.reduce_sum(taps)

    def blurred(images):  # separable, reflecting the border so the frame keeps its brightness
        images = tf.pad(luminance(images), [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
        images = tf.nn.conv2d(images, tf.reshape(taps, [-1, 1, 1, 1]), 1, "VALID")
        return tf.nn.conv2d(images, tf.reshape(taps, [1, -1, 1, 1]), 1, "VALID")

    return _mean_per_example(tf.abs(blurred(images_a) - blurred(images_b)))


def attribute_loss(original_logits, generated_logits, class_weights=None):
    """KL divergence from an attribute probe's reading of x to its reading of G(x), per example (softmax logits).

    Zero when G(x) reads as x does (the same gender, say) however far its identity moved. With `class_weights`
    (one per class), each example's KL is weighted by the classes' weights under x's reading.
    """
    original = tf.nn.softmax(tf.cast(original_logits, tf.float32))
    log_generated = tf.nn.log_softmax(tf.cast(generated_logits, tf.float32))
    log_original = tf.math.log(tf.maximum(original, 1e-12))
    divergence = tf.reduce_sum(original * (log_original - log_generated), axis=-1)
    if class_weights is None:
        return divergence
    return divergence * tf.reduce_sum(original * tf.cast(class_weights, tf.float32), axis=-1)


def generator_objective(adversarial, verif, sim, setting="ppgan", lambda_verif=1.0, lambda_sim=1.0):
    """The PP-GAN objective L_cGAN + l1 L_verif + l2 L_sim, per example.

    Args:
        adversarial, verif, sim: per-example loss terms, float `[batch]`.
        setting: one of `SETTINGS`; terms it leaves out weigh 0.
        lambda_verif, lambda_sim: l1 and l2.
    """
    if setting not in SETTINGS:
        raise ValueError(f"Unknown setting {setting!r}; choose from {sorted(SETTINGS)}")
    use = SETTINGS[setting]
    total = adversarial
    if use["verif"]:
        total = total + lambda_verif * verif
    if use["sim"]:
        total = total + lambda_sim * sim
    return total


def scheduled_lambda_verif(step, lambda_verif, warmup_steps=0, ramp_steps=0):
    """l1 at `step` (1-based): 0 during the warm-up, then a linear ramp up to `lambda_verif`.

    A generator that first learns to reproduce faces and then meets the identity
    term gradually changes faces instead of painting one pattern over all of them.
    """
    step = tf.cast(step, tf.float32)
    if ramp_steps <= 0:
        return tf.where(step > warmup_steps, lambda_verif, 0.0)
    return lambda_verif * tf.clip_by_value((step - warmup_steps) / ramp_steps, 0.0, 1.0)


def embedding_distillation_loss(projected, teacher):
    """1 - cosine between the student's projected embeddings and the teacher's, per example."""
    projected = tf.math.l2_normalize(tf.cast(projected, tf.float32), axis=-1)
    return 1.0 - tf.reduce_sum(projected * tf.cast(teacher, tf.float32), axis=-1)


def similarity_distillation_loss(student, teacher):
    """Squared difference of the batch's cosine-similarity matrices, per example (row).

    Teaches the student the teacher's geometry itself: which faces are close,
    whatever the embedding sizes (Tung & Mori 2019, on unit embeddings).
    """
    student = tf.cast(student, tf.float32)
    teacher = tf.cast(teacher, tf.float32)
    difference = tf.matmul(student, student, transpose_b=True) - tf.matmul(teacher, teacher, transpose_b=True)
    return tf.reduce_mean(tf.square(difference), axis=-1)
