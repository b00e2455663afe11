r"""How far can a smooth edit of a face alone move a recogniser, and does the change transfer?

    python -m benchmarks.identity_edits --data=runs/prep_lfw/manifest.csv --out=runs/bench/identity_edits.json \
        --figure=docs/identity_edits.png [--faces=32] [--steps=150] \
        [--edits=warp:8:4,warp:8:8,warp:4:3,warp:4:5,shade:16:0.3]

An upper bound for what a generator's head of each kind could do: every face
gets its own edit, optimised for `--steps` Adam steps against SFace (a hinge
at distance `--margin`, as in the shipped recipe), then judged by dlib at 0.6
and FaceNet 20180408 (never optimised against) and by SSIM to the original.
An edit is `kind:grid:budget`: a `grid` x `grid` field of control values,
bicubic-upsampled to the face and faded to zero at its border (so it pastes
back into a photo seamlessly), at most `budget` in size:

- `warp`: a displacement field in pixels (moves features: geometry only);
- `shade`: an additive colour field in model units ([-1, 1] is 255 grey levels).

A generator trained against SFace amortises such edits over faces, so it
cannot do better with the same kind of change; if natural-looking edits of a
kind fool no independent judge here, that head will not either.
"""

import time

import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import write_json

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "Manifest CSV of aligned face crops (trainers.prepare_data's output).")
flags.DEFINE_string("out", None, "JSON results path.")
flags.DEFINE_string("figure", "", "PNG: the first 8 faces, then a row per edit ('' for none).")
flags.DEFINE_integer("faces", 32, "Faces, drawn at random from the manifest.")
flags.DEFINE_integer("steps", 150, "Adam steps per edit (all faces in one batch).")
flags.DEFINE_float("learning_rate", 0.05, "Adam learning rate of the control values.")
flags.DEFINE_float("margin", 1.4, "Hinge distance to SFace's embedding of the original.")
flags.DEFINE_list("edits", ["warp:8:4", "warp:8:8", "warp:4:3", "warp:4:5", "shade:16:0.3"], "kind:grid:budget.")
flags.DEFINE_integer("seed", 0, "Seed of the face draw and the edits' initialisation.")
flags.mark_flags_as_required(["data", "out"])

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

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            distance = tf.norm(recogniser(edited()) - originals, axis=-1)
            loss = tf.reduce_mean(tf.square(tf.nn.relu(margin - distance)))
        optimizer.apply_gradients([(tape.gradient(loss, controls), controls)])

    for _ in range(steps):
        step()
    return edited()


def main(argv):
    del argv
    from ppgan_tf.data import images, manifest, pipeline
    from ppgan_tf.faces.recognition import DlibRecogniser
    from ppgan_tf.models import recognisers
    from ppgan_tf.training.summaries import comparison_grid, write_png

    records = manifest.load_records(FLAGS.data)
    chosen = np.random.default_rng(FLAGS.seed).choice(len(records), FLAGS.faces, replace=False)
    originals = images.load_faces([records[i] for i in sorted(chosen)], 128, 3).images
    faces = pipeline.to_model_range(tf.constant(originals))
    sface = recognisers.SFace()
    judges = {"sface (optimised against)": sface, "dlib": DlibRecogniser(), "facenet": recognisers.load_recogniser("facenet")}
    original_embeddings = {name: judge.embed(originals) for name, judge in judges.items()}
    rows, results = [], []
    for text in FLAGS.edits:
        kind, grid, budget = parse_edit(text)
        started = time.perf_counter()
        edited = pipeline.to_uint8(optimise_edit(kind, grid, budget, faces, sface, FLAGS.margin, FLAGS.steps,
                                                 FLAGS.learning_rate, FLAGS.seed)).numpy()
        row = {"edit": text, "seconds": round(time.perf_counter() - started, 1),
               "ssim": float(tf.reduce_mean(tf.image.ssim(tf.constant(edited), tf.constant(originals), 255)))}
        for name, judge in judges.items():
            distance = np.linalg.norm(judge.embed(edited) - original_embeddings[name], axis=1)
            row[f"deid {name}"] = float(np.mean(distance > judge.threshold))
        results.append(row)
        rows.append(edited[:8])
        print(row, flush=True)
    write_json(FLAGS.out, {"data": FLAGS.data, "faces": len(originals), "steps": FLAGS.steps,
                           "margin": FLAGS.margin, "seed": FLAGS.seed, "edits": results})
    if FLAGS.figure:
        write_png(FLAGS.figure, comparison_grid(originals[:8], *rows))
    columns = [key for key in results[0] if key not in ("edit", "seconds")]
    print("| edit | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for row in results:
        print(f"| {row['edit']} | " + " | ".join(f"{row[key]:.3f}" for key in columns) + " |")


if __name__ == "__main__":
    app.run(main)
