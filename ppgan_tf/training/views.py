"""Random views of generated faces for the verificator term (expectation over transformation).

A generator trained against one frozen verificator finds the cheapest way
to move its embedding: small high-frequency patterns that fool that network
and no other recogniser. Scoring G(x) through a random geometric and
photometric view each step makes such patterns useless (they do not survive
a small shift, blur or rescale), so the generator has to change what every
view shows: the face itself. All operations are differentiable and
vectorised; the randomness is a stateless function of each face's seed.
Verificator pretraining uses the same views, and blends of two faces, as the
inputs its teachers label.
"""

import math

import tensorflow as tf

# Ranges of each random change; chosen so a view is still clearly the same face.
MAX_ROTATION_DEGREES = 8.0
SCALE_RANGE = (0.9, 1.1)
MAX_SHIFT_FRACTION = 0.05
MAX_BRIGHTNESS = 0.1
CONTRAST_RANGE = (0.8, 1.2)
MAX_NOISE_STD = 0.03
GREY_VIEW_SHARE = 0.5  # so a colour cast alone cannot move the embedding
MAX_SATURATION = 1.2
MAX_CHANNEL_GAIN = 0.1
_PARAMETERS = 13  # uniforms drawn per face


# Independent random streams drawn from one face seed.
_VIEW_STREAM, _NOISE_STREAM, _REVERT_STREAM, _BLEND_STREAM = 1, 2, 3, 4


def _per_face(seeds, sample, shape, stream):
    """`sample(shape, seed=...)` for each face, a function of its seed and the stream alone: `[batch, *shape]`."""
    seeds = tf.cast(tf.reshape(seeds, [-1]), tf.int64)
    stream = tf.constant(stream, tf.int64)
    return tf.map_fn(lambda seed: sample(shape, seed=tf.stack([seed, stream])), seeds, fn_output_signature=tf.float32)


def _draws(seeds, image_shape):
    """Per face: `_PARAMETERS` uniforms in [0, 1) and standard normal pixel noise."""
    return (_per_face(seeds, tf.random.stateless_uniform, [_PARAMETERS], _VIEW_STREAM),
            _per_face(seeds, tf.random.stateless_normal, image_shape, _NOISE_STREAM))


def _between(u, low, high):
    return low + (high - low) * u


def _affine_transforms(u, size):
    """Projective transforms (output -> input coordinates) rotating and scaling about the centre, then shifting."""
    angle = _between(u[:, 0], -1.0, 1.0) * MAX_ROTATION_DEGREES * math.pi / 180.0
    scale = _between(u[:, 1], *SCALE_RANGE)
    shift_x = _between(u[:, 2], -1.0, 1.0) * MAX_SHIFT_FRACTION * size
    shift_y = _between(u[:, 3], -1.0, 1.0) * MAX_SHIFT_FRACTION * size
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    centre = (size - 1) / 2.0
    # input = A (output - centre - shift) + centre, with A the inverse rotation-scale.
    x0, y0 = centre + shift_x, centre + shift_y
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = centre - a0 * x0 - a1 * y0
    b2 = centre - b0 * x0 - b1 * y0
    zeros = tf.zeros_like(angle)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _blur(images):
    """A fixed 5x5 Gaussian blur (sigma 1) per channel."""
    taps = tf.constant([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    kernel = tf.tensordot(taps, taps, axes=0)[:, :, None, None]
    kernel = tf.tile(kernel, [1, 1, images.shape[-1], 1])
    return tf.nn.depthwise_conv2d(images, kernel, [1, 1, 1, 1], "SAME")


def random_views(images, seeds):
    """One random view of each face: rotated, scaled, shifted, blurred, rescaled, recoloured, noisy.

    Colour faces also get a random saturation (half of them grey) and per-channel
    gains: a generator trained on colour otherwise learns colour casts that
    move its verificator's embedding and leave the face as it was.

    Args:
        images: float `[batch, size, size, channels]` in [-1, 1].
        seeds: int `[batch]`; a face's view depends on its seed alone.

    Returns:
        float32 images of the same shape, clipped to [-1, 1].

    Example:
    >>> views = random_views(fakes, batch["noise_seeds"])
    """
    images = tf.cast(images, tf.float32)
    size = images.shape[1]
    u, noise = _draws(seeds, tf.shape(images)[1:])
    views = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=_affine_transforms(u, size), output_shape=tf.shape(images)[1:3],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT",
    )
    per_face = lambda column: u[:, column][:, None, None, None]  # noqa: E731
    # Blur and a half-resolution round trip, each mixed in by a random amount.
    views = views + per_face(4) * (_blur(views) - views)
    half = tf.image.resize(tf.image.resize(views, [size // 2, size // 2], antialias=True), [size, size])
    views = views + per_face(5) * (half - views)
    contrast = _between(per_face(6), *CONTRAST_RANGE)
    brightness = _between(per_face(7), -1.0, 1.0) * MAX_BRIGHTNESS
    mean = tf.reduce_mean(views, axis=[1, 2, 3], keepdims=True)
    views = (views - mean) * contrast + mean + brightness
    if images.shape[-1] == 3:
        grey = tf.reduce_mean(views, axis=-1, keepdims=True)
        # Half the views grey, the others at a saturation from 0 to MAX_SATURATION.
        saturation = tf.maximum(per_face(9) - GREY_VIEW_SHARE, 0.0) / (1.0 - GREY_VIEW_SHARE) * MAX_SATURATION
        views = grey + saturation * (views - grey)
        gains = _between(u[:, 10:13], -1.0, 1.0) * MAX_CHANNEL_GAIN
        views = views + gains[:, None, None, :] * (views + 1.0)  # a white-balance gain: black stays black
    return tf.clip_by_value(views + MAX_NOISE_STD * per_face(8) * noise, -1.0, 1.0)


def grey(images):
    """Each image's channel mean, repeated over its channels (grey faces keep their shape)."""
    images = tf.cast(images, tf.float32)
    return tf.repeat(tf.reduce_mean(images, axis=-1, keepdims=True), images.shape[-1], axis=-1)


# Sides of the reverted rectangle, as fractions of the image side.
REVERTED_SIDE_RANGE = (0.3, 0.6)


def revert_regions(fakes, originals, seeds, share):
    """Generated faces with one random rectangle of the original pasted back, in `share` of them.

    Against a strong verificator the cheapest change is one painted patch (a
    blob between the eyes moves SFace's embedding across its threshold).
    When any region of the fake may be reverted to the original before
    V scores it, a single patch fools V only in the views that keep it: the
    identity change has to be spread over the face.

    Args:
        fakes, originals: float `[batch, size, size, channels]`, the same faces.
        seeds: int `[batch]`; the rectangle (and whether there is one) depends on the face's seed alone.
        share: fraction of faces that get a reverted rectangle (0 returns `fakes`).

    Example:
    >>> inputs = revert_regions(fakes, real, batch["noise_seeds"], share=0.5)
    """
    fakes = tf.cast(fakes, tf.float32)
    if not share:
        return fakes
    size = fakes.shape[1]
    u = _per_face(seeds, tf.random.stateless_uniform, [5], _REVERT_STREAM)
    width, height = _between(u[:, 0], *REVERTED_SIDE_RANGE), _between(u[:, 1], *REVERTED_SIDE_RANGE)
    left, top = u[:, 2] * (1.0 - width), u[:, 3] * (1.0 - height)
    chosen = tf.cast(u[:, 4] < share, tf.float32)
    grid = (tf.range(size, dtype=tf.float32) + 0.5) / size
    inside_x = tf.cast((grid[None] >= left[:, None]) & (grid[None] < (left + width)[:, None]), tf.float32)
    inside_y = tf.cast((grid[None] >= top[:, None]) & (grid[None] < (top + height)[:, None]), tf.float32)
    mask = (inside_y[:, :, None] * inside_x[:, None, :] * chosen[:, None, None])[..., None]
    return fakes + mask * (tf.cast(originals, tf.float32) - fakes)


def blended_faces(images, seeds, share):
    """In `share` of the faces, each blended with the next face of the batch by a uniform random weight.

    For distillation (function matching, Beyer et al. 2022): a teacher's
    embedding of a blend of two people is one more exact target, so the
    student meets faces it has never seen instead of the same few thousand
    training faces again.

    Args:
        images: float `[batch, size, size, channels]`.
        seeds: int `[batch]`; whether and how much a face is blended depends on its seed alone.
        share: expected share of blended faces, in [0, 1].

    Returns:
        (images, blended): the faces, and float32 `[batch]` 1 where a face was blended.

    Example:
    >>> faces, blended = blended_faces(views, view_seeds, share=0.5)
    """
    images = tf.cast(images, tf.float32)
    u = _per_face(seeds, tf.random.stateless_uniform, [2], _BLEND_STREAM)
    blended = tf.cast(u[:, 0] < share, tf.float32)
    weight = (blended * u[:, 1])[:, None, None, None]
    return images + weight * (tf.roll(images, shift=-1, axis=0) - images), blended

