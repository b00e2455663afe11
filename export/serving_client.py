r"""A client for the generator served by TF Serving, over REST or gRPC.

    docker run -p 8501:8501 -p 8500:8500 -v "$PWD/ppgan_runs/default/export/savedmodel/ppgan:/models/ppgan" \
        -e MODEL_NAME=ppgan tensorflow/serving
    python -m export.serving_client --images=face1.png,face2.png --out=out/ --protocol=rest

Sends aligned face crops (PNG/JPEG) to the `deidentify_image_bytes`
signature and writes the de-identified PNGs.
"""

import os

from absl import app, flags

from export.serving_requests import deidentify_grpc, deidentify_rest

FLAGS = flags.FLAGS
flags.DEFINE_list("images", None, "Aligned face images to de-identify.")
flags.DEFINE_string("out", "deidentified", "Folder for the de-identified PNGs.")
flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "How to talk to TF Serving.")
flags.DEFINE_string("host", "localhost", "TF Serving host.")
flags.DEFINE_integer("port", None, "Port (default 8501 for REST, 8500 for gRPC).")
flags.DEFINE_string("model_name", "ppgan", "Model name in TF Serving.")


def main(argv):
    del argv
    os.makedirs(FLAGS.out, exist_ok=True)
    paths, images, skipped, taken = [], [], 0, set()
    for path in FLAGS.images or []:
        target = _target(path)
        problem = None
        if target in taken:
            problem = f"an earlier image writes {target}"
        elif os.path.exists(target):
            problem = f"{target} exists and is never overwritten"
        else:
            try:
                with open(path, "rb") as f:
                    images.append(f.read())
            except OSError as error:
                problem = error.strerror or str(error)
        if problem:
            print(f"skipped {path}: {problem}")
            skipped += 1
            continue
        paths.append(path)
        taken.add(target)
    call = deidentify_rest if FLAGS.protocol == "rest" else deidentify_grpc
    port = FLAGS.port or (8501 if FLAGS.protocol == "rest" else 8500)
    for path, png in zip(paths, call(images, FLAGS.host, port, FLAGS.model_name) if images else []):
        with open(_target(path), "xb") as f:
            f.write(png)
        print(_target(path))
    if skipped:
        print(f"{skipped} image(s) skipped")


def _target(path):
    return os.path.join(FLAGS.out, os.path.splitext(os.path.basename(path))[0] + ".png")


if __name__ == "__main__":
    app.run(main)
