import math

import numpy as np
import pytest
import tensorflow as tf

from ppgan_tf import losses


def test_ssim_loss_is_zero_for_identical_images_and_positive_otherwise():
    images = tf.random.uniform([2, 32, 32, 1], -1, 1, seed=1)
    np.testing.assert_allclose(losses.ssim_loss(images, images).numpy(), 0.0, atol=1e-6)
    other = tf.random.uniform([2, 32, 32, 1], -1, 1, seed=2)
    assert np.all(losses.ssim_loss(images, other).numpy() > 0.2)
    # An inverted image has SSIM near -1: the loss approaches its maximum of 1.
    # (On raw [-1, 1] values tf.image.ssim would call them similar.)
    assert np.all(losses.ssim_loss(images, -images).numpy() > 0.9)


def test_contrastive_loss_at_known_distances():
    a = tf.constant([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    b = tf.constant([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])
    same = tf.constant([1, 0, 0, 0])
    # distances: sqrt(2), sqrt(2), 0, 2
    expected = [0.5 * 2.0, 0.5 * (2.0 - math.sqrt(2)) ** 2, 0.5 * 4.0, 0.0]
    np.testing.assert_allclose(losses.contrastive_loss(a, b, same, margin=2.0).numpy(), expected, atol=1e-5)


def test_verificator_loss_labels_every_pair_different():
    a = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(losses.verificator_loss(a, a).numpy(), [2.0, 2.0], atol=1e-5)
    np.testing.assert_allclose(losses.verificator_loss(a, -a).numpy(), [0.0, 0.0], atol=1e-5)


def test_destination_loss_pulls_only_beyond_its_margin():
    a = tf.constant([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    b = tf.constant([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # distances 0, sqrt(2), 2
    expected = [0.0, 0.5 * (math.sqrt(2) - 1.2) ** 2, 0.5 * 0.8 ** 2]
    np.testing.assert_allclose(losses.destination_loss(a, b, margin=1.2).numpy(), expected, atol=1e-5)


def test_contrastive_gradient_is_finite_for_identical_embeddings():
    a = tf.Variable([[0.6, 0.8]])
    with tf.GradientTape() as tape:
        loss = losses.contrastive_loss(a, tf.constant([[0.6, 0.8]]), tf.constant([1]))
    assert np.all(np.isfinite(tape.gradient(loss, a).numpy()))


def test_adversarial_losses_from_logits():
    zeros = tf.zeros([2, 30, 30, 1])
    np.testing.assert_allclose(losses.generator_adversarial_loss(zeros).numpy(), math.log(2), atol=1e-6)
    np.testing.assert_allclose(losses.discriminator_loss(zeros, zeros).numpy(), 2 * math.log(2), atol=1e-6)
    confident = losses.discriminator_loss(tf.fill([1, 30, 30, 1], 20.0), tf.fill([1, 30, 30, 1], -20.0))
    assert confident.numpy()[0] < 1e-6


def test_patch_weights_leave_out_the_patches_they_zero():
    weights = np.zeros([1, 30, 30, 1], np.float32)
    weights[:, 10:20, 10:20] = 1.0
    inside = tf.fill([2, 30, 30, 1], -3.0)
    # Only the patches outside the weighted region differ: the weighted losses do not see them.
    outside_changed = tf.constant(np.where(weights > 0, -3.0, 5.0) * np.ones([2, 30, 30, 1]), tf.float32)
    for loss in (lambda fake: losses.generator_adversarial_loss(fake, weights),
                 lambda fake: losses.discriminator_loss(-fake, fake, weights),
                 lambda fake: losses.discriminator_accuracy(-fake, fake, weights)):
        np.testing.assert_allclose(loss(inside).numpy(), loss(outside_changed).numpy(), rtol=1e-6)
    assert losses.discriminator_accuracy(-inside, inside, weights).numpy().tolist() == [1.0, 1.0]
    assert losses.discriminator_accuracy(-outside_changed, outside_changed).numpy()[0] < 1.0
    # Uniform weights are the plain mean.
    logits = tf.random.normal([2, 30, 30, 1], seed=2)
    np.testing.assert_allclose(losses.generator_adversarial_loss(logits, tf.ones([1, 30, 30, 1])).numpy(),
                               losses.generator_adversarial_loss(logits).numpy(), rtol=1e-6)


def test_r1_penalty_of_a_linear_discriminator():
    slope = tf.constant(np.random.default_rng(0).normal(size=(1, 4, 4, 3)), tf.float32)
    images = tf.random.uniform([2, 4, 4, 3])
    with tf.GradientTape() as tape:
        tape.watch(images)
        verdicts = tf.reduce_sum(images * slope)
    penalty = losses.r1_penalty(tape.gradient(verdicts, images), weight=10.0)
    np.testing.assert_allclose(penalty.numpy(), [5.0 * float(tf.reduce_sum(slope**2))] * 2, rtol=1e-5)
    logits = tf.reshape(tf.range(8, dtype=tf.float32), [2, 2, 2, 1])
    np.testing.assert_allclose(losses.discriminator_output(logits).numpy(), [1.5, 5.5])


@pytest.mark.parametrize(
    "setting, expected",
    [("cgan", 1.0), ("cgan_sim", 1.0 + 3 * 0.25), ("cgan_verif", 1.0 + 2 * 0.5), ("ppgan", 1.0 + 1.0 + 0.75)],
)
def test_the_four_settings_select_their_terms(setting, expected):
    total = losses.generator_objective(
        tf.constant([1.0]), tf.constant([0.5]), tf.constant([0.25]), setting, lambda_verif=2.0, lambda_sim=3.0
    )
    np.testing.assert_allclose(total.numpy(), [expected])


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="Unknown setting"):
        losses.generator_objective(1.0, 1.0, 1.0, "pix2pix")


def test_scheduled_lambda_verif():
    at = lambda step, **kw: float(losses.scheduled_lambda_verif(step, 3.0, **kw))  # noqa: E731
    assert at(1) == 3.0
    assert at(10, warmup_steps=10) == 0.0 and at(11, warmup_steps=10) == 3.0
    assert [at(s, warmup_steps=2, ramp_steps=3) for s in (2, 3, 4, 5, 9)] == pytest.approx([0, 1, 2, 3, 3])


def test_distillation_losses_vanish_on_the_teacher_and_grow_away_from_it():
    teacher = tf.math.l2_normalize(tf.random.normal([6, 8], seed=1), axis=-1)
    np.testing.assert_allclose(losses.embedding_distillation_loss(3.0 * teacher, teacher), 0.0, atol=1e-6)
    np.testing.assert_allclose(losses.embedding_distillation_loss(-teacher, teacher), 2.0, atol=1e-6)
    # Similarity distillation only sees the geometry: a rotation of the teacher costs nothing.
    rotation = tf.linalg.qr(tf.random.normal([8, 8], seed=2))[0]
    np.testing.assert_allclose(losses.similarity_distillation_loss(teacher @ rotation, teacher), 0.0, atol=1e-5)
    shuffled = tf.gather(teacher, [1, 0, 3, 2, 5, 4])
    assert float(tf.reduce_mean(losses.similarity_distillation_loss(shuffled, teacher))) > 0.01


def test_shading_loss_holds_regional_brightness_but_lets_fine_detail_change():
    faces = tf.random.uniform([2, 64, 64, 3], -0.5, 0.5, seed=3)
    np.testing.assert_allclose(losses.shading_loss(faces, faces).numpy(), 0.0, atol=1e-6)
    band = np.zeros([2, 64, 64, 3], np.float32)
    band[:, 20:32] = 0.3  # a painted band, 12 rows of the 64 brighter
    stripes = np.zeros([2, 64, 64, 3], np.float32)
    stripes[:, 20:32, ::2] = 0.3  # the same rows, changed in a 2 px pattern of the same energy per pixel
    stripes[:, 20:32, 1::2] = -0.3
    painted = losses.shading_loss(faces, faces + band).numpy()
    redrawn = losses.shading_loss(faces, faces + stripes).numpy()
    np.testing.assert_allclose(painted, 0.3 * 12 / 64, rtol=0.1)  # the blur keeps a band's mean brightness
    assert np.all(redrawn < 0.05 * painted)
    # Colour that leaves luminance unchanged is not shading; grey faces work too.
    recoloured = faces + tf.constant([0.114, 0.0, -0.299]) * 0.5
    np.testing.assert_allclose(losses.shading_loss(faces, recoloured).numpy(), 0.0, atol=1e-5)
    grey = faces[..., :1]
    assert np.all(losses.shading_loss(grey, grey + band[..., :1]).numpy() > 0.03)


def test_attribute_loss_is_the_kl_from_the_original_reading():
    original = tf.constant([[2.0, -1.0], [0.0, 3.0]])
    np.testing.assert_allclose(losses.attribute_loss(original, original + 5.0), [0.0, 0.0], atol=1e-6)  # shift-free
    flipped = losses.attribute_loss(original, original[:, ::-1]).numpy()
    p = tf.nn.softmax(original).numpy()
    np.testing.assert_allclose(flipped, np.sum(p * (np.log(p) - np.log(p[:, ::-1])), axis=1), rtol=1e-5)
    assert np.all(flipped > 1.0)
    # Class weights scale each example by the weights under x's reading; all ones change nothing.
    weighted = losses.attribute_loss(original, original[:, ::-1], [3.0, 0.5]).numpy()
    np.testing.assert_allclose(weighted, flipped * (p @ [3.0, 0.5]), rtol=1e-5)
    np.testing.assert_allclose(losses.attribute_loss(original, original[:, ::-1], [1.0, 1.0]), flipped, rtol=1e-6)
