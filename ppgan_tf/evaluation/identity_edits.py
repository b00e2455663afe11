"""Smooth edits of aligned faces (a displacement field or a colour field), optimised against a recogniser.

Each face gets its own edit: a `grid` x `grid` field of control values,
bicubic-upsampled to the face and faded to zero at its border (so it pastes
back into a photo seamlessly), at most `budget` in size, pushed for a number
of Adam steps away from a recogniser's embedding of the original. How far
such edits of one kind move recognisers never optimised against bounds what
a generator's head of that kind could do (`benchmarks/identity_edits.py`).

- `warp`: a displacement field in pixels (moves features: geometry only);
- `shade`: an additive colour field in model units ([-1, 1] is 255 grey levels).
"""

import numpy as np
import tensorflow as tf

KINDS = ("warp", "shade")


def parse_edit(text):
    """'warp:8:4' -> ('warp', 8, 4.0)."""
    kind, grid, budget = text.split(":")
    if kind not in KINDS:
        raise ValueError(f"{text!r}: the kind must be one of {KINDS}")
    return kind, int(grid), float(budget)


def border_fade(size):
    """`[1, size, size, 1]`: 1 in the middle falling smoothly to 0 at the edges."""
    profile = np.sqrt(np.sin(np.linspace(0.0, np.pi, size)))
    return tf.constant((profile[:, None] * profile[None, :])[None, :, :, None], tf.float32)


def smooth_field(controls, budget, size):
    """Control values `[N, g, g, C]` (unbounded) -> a field `[N, size, size, C]` within +-budget, 0 at the border."""
    field = tf.image.resize(budget * tf.tanh(controls), [size, size], method="bicubic")
    return tf.clip_by_value(field, -budget, budget) * border_fade(size)


def warp_images(images, flow):
    """Samples `images` `[N, H, W, C]` at (row + flow[..., 0], column + flow[..., 1]), bilinearly; differentiable."""
    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    rows, columns = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    y = tf.clip_by_value(rows[None] + flow[..., 0], 0.0, height - 1.0)
    x = tf.clip_by_value(columns[None] + flow[..., 1], 0.0, width - 1.0)
    y0, x0 = tf.floor(y), tf.floor(x)
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    y1, x1 = tf.minimum(y0 + 1, height - 1), tf.minimum(x0 + 1, width - 1)
    batch = tf.broadcast_to(tf.range(count)[:, None, None], tf.shape(y0))

    def at(yi, xi):
        return tf.gather_nd(images, tf.stack([batch, yi, xi], axis=-1))

    top = at(y0, x0) * (1.0 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1.0 - wx) + at(y1, x1) * wx
    return top * (1.0 - wy) + bottom * wy


def apply_edit(kind, faces, field):
    """Faces in [-1, 1] with a warp (field in pixels) or shading (field in model units) applied."""
    if kind == "warp":
        return warp_images(faces, field)
    return tf.clip_by_value(faces + field, -1.0, 1.0)


def optimise_edit(kind, grid, budget, faces, recogniser, margin, steps, learning_rate, seed):
    """Each face's own edit pushed away from `recogniser`'s embedding of it; returns the edited faces in [-1, 1]."""
    channels = 2 if kind == "warp" else faces.shape[-1]
    controls = tf.Variable(tf.random.stateless_normal([faces.shape[0], grid, grid, channels], [seed, 0], 0.01))
    originals = recogniser(faces)
    optimizer = tf.keras.optimizers.Adam(learning_rate)

    def edited():
        return apply_edit(kind, faces, smooth_field(controls, budget, faces.shape[1]))

    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            distance = tf.norm(recogniser(edited()) - originals, axis=-1)
            loss = tf.reduce_mean(tf.square(tf.nn.relu(margin - distance)))
        optimizer.apply_gradients([(tape.gradient(loss, controls), controls)])

    for _ in range(steps):
        step()
    return edited()
