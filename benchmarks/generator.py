r"""The generator's paths at batch 1 and 32: Keras, the serving SavedModel, TFLite, ONNX, and the FLOP floor.

    python -m benchmarks.generator --workdir=runs/shipped --out=runs/bench/generator.json [--threads=2]

WORKDIR is an exported run (`python -m export.export_model`): its
`generator.keras` and the files of `export/export_report.json`. Every path
gets the same faces and noise, one warm-up call, then `--repeats` timed calls;
milliseconds are per face. The FLOP floor is the generator's floating-point
operations a face (TF's profiler on the frozen graph) over the rate of a
2048 x 2048 float32 matmul measured in the same process, so the ratios
compare on a shared machine. The quality columns are the export report's
(parity with the Keras model on the run's test faces).
"""

import json
import os
import time

import numpy as np
from absl import app, flags

from benchmarks import write_json

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "An exported run.")
flags.DEFINE_string("out", None, "JSON results path.")
flags.DEFINE_integer("threads", 2, "Intra-op threads of every runtime.")
flags.DEFINE_integer("repeats", 20, "Timed calls of each path and batch.")
flags.DEFINE_list("batches", ["1", "32"], "Batch sizes.")
flags.mark_flags_as_required(["workdir", "out"])


def milliseconds_per_face(function, batch, repeats):
    """Per-face time of `function()` on a batch, after one warm-up call (the median of `repeats` calls)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times)) / batch


def matmul_gflops(tf, size=2048, repeats=10):
    """float32 GFLOP/s of a square matmul: the machine's attainable rate for dense work."""
    a = tf.random.normal([size, size])
    product = tf.function(lambda x: tf.matmul(x, x))
    product(a).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        product(a).numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def generator_flops(tf, generator):
    """Floating-point operations of one face through the generator (TF profiler on the frozen graph)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    size, channels = generator.image_size, generator.channels
    concrete = tf.function(lambda faces, noise: generator(faces, training=False, noise=noise)).get_concrete_function(
        tf.TensorSpec([1, size, size, channels], tf.float32), tf.TensorSpec([1, generator.noise_size], tf.float32))
    frozen = convert_variables_to_constants_v2(concrete)
    options = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    return tf.compat.v1.profiler.profile(graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                         options=options).total_float_ops


def main(argv):
    del argv
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from ppgan_tf import layout, models  # noqa: F401  (registers the classes generator.keras needs)

    with open(os.path.join(FLAGS.workdir, layout.EXPORT, "export_report.json")) as f:
        report = json.load(f)
    generator = keras.saving.load_model(os.path.join(FLAGS.workdir, layout.GENERATOR))
    size, channels = generator.image_size, generator.channels
    batches = [int(batch) for batch in FLAGS.batches]
    faces = np.random.default_rng(0).integers(0, 256, (max(batches), size, size, channels), dtype=np.uint8)
    noise = np.random.default_rng(1).random((max(batches), generator.noise_size), np.float32)

    paths = {"keras": lambda b: generator.deidentify(faces[:b], noise=noise[:b], batch_size=b)}
    serving_dir = os.path.join(FLAGS.workdir, report["formats"]["savedmodel"]["path"]) \
        if "savedmodel" in report["formats"] else None
    if serving_dir:
        serving = tf.saved_model.load(serving_dir).signatures["deidentify_with_noise"]
        paths["savedmodel"] = lambda b: serving(images=tf.constant(faces[:b]), noise=tf.constant(noise[:b]))
    one_at_a_time = {}
    for name, row in report["formats"].items():
        path = os.path.join(FLAGS.workdir, row["path"])
        if name.startswith("tflite_"):
            from ai_edge_litert.interpreter import Interpreter

            runner = Interpreter(model_path=path, num_threads=FLAGS.threads).get_signature_runner(layout.SIGNATURE)
            one_at_a_time[name] = lambda i, runner=runner: runner(images=faces[i:i + 1], noise=noise[i:i + 1])
        elif name == "onnx":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = FLAGS.threads
            session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            one_at_a_time[name] = lambda i, session=session: session.run(
                ["deidentified"], {"images": faces[i:i + 1], "noise": noise[i:i + 1]})
    for name, call in one_at_a_time.items():  # batch-1 models: a batch is a loop
        paths[name] = lambda b, call=call: [call(i) for i in range(b)]

    flops = generator_flops(tf, generator)
    gflops = matmul_gflops(tf)
    floor_ms = flops / (gflops * 1e9) * 1000
    results = {}
    for name, run in paths.items():
        row = {f"ms_per_face_batch_{b}": milliseconds_per_face(lambda: run(b), b, FLAGS.repeats) for b in batches}
        quality = report["formats"].get(name, {})
        row.update({k: quality[k] for k in ("ssim", "deid_rate", "max_abs_error", "psnr", "bytes") if k in quality})
        results[name] = row
    reference = results.get("tflite_float32", {}).get("ms_per_face_batch_1")
    summary = {"workdir": FLAGS.workdir, "threads": FLAGS.threads, "cpu_count": os.cpu_count(),
               "gflop_per_face": flops / 1e9, "matmul_gflops": gflops, "flop_floor_ms": floor_ms,
               "keras_reference": report.get("reference"), "paths": results}
    write_json(FLAGS.out, summary)
    print(f"generator: {flops / 1e9:.2f} GFLOP a face; matmul {gflops:.0f} GFLOP/s; floor {floor_ms:.1f} ms a face; "
          f"{FLAGS.threads} threads")
    header = " | ".join(f"ms/face, batch {b}" for b in batches)
    print(f"| path | {header} | x TFLite float32 (batch 1) | SSIM | de-id | max error |")
    print("|---|" + "---|" * (len(batches) + 4))
    for name, row in results.items():
        times = " | ".join(f"{row[f'ms_per_face_batch_{b}']:.1f}" for b in batches)
        speed = f"{reference / row['ms_per_face_batch_1']:.2f}" if reference else "-"
        quality = " | ".join(f"{row[k]:.3f}" if isinstance(row.get(k), float) else str(row.get(k, "-"))
                             for k in ("ssim", "deid_rate", "max_abs_error"))
        print(f"| {name} | {times} | {speed} | {quality} |")


if __name__ == "__main__":
    app.run(main)
