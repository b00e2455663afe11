"""The one owner of a run's layout: where each artefact of a work directory lives.

Training writes these paths, evaluation, export and the de-identifier read
them; no other module spells a file name of a run.

    WORKDIR/config.json                    the run config (`ppgan_tf.config`)
    WORKDIR/split.json                     the train/test split every stage uses
    WORKDIR/verificator/                   the frozen verificator and its threshold
    WORKDIR/verificator_checkpoints/       V, its optimiser and step while it pretrains (resumable)
    WORKDIR/checkpoints/                   G, D, optimisers and step (resumable)
    WORKDIR/real_embeddings.npz            the frozen verificators' embeddings of the training faces and mirrors
    WORKDIR/logs/                          TensorBoard scalars and image grids
    WORKDIR/samples/                       PNG grids: originals over de-identified faces
    WORKDIR/generator.keras                the final generator
    WORKDIR/metrics.json                   what the run measured
    WORKDIR/export/savedmodel/NAME/N/      SavedModel versions; each has
        assets.extra/ppgan_export.json     its contract (sizes, noise, threshold, blessed)
    WORKDIR/export/tflite/*.tflite, WORKDIR/export/onnx/*.onnx, each with a .json contract beside it

Imports nothing from the project: every layer may use it.
"""

import glob
import json
import os

CONFIG = "config.json"
SPLIT = "split.json"
VERIFICATOR = "verificator"
VERIFICATOR_CHECKPOINTS = "verificator_checkpoints"
CHECKPOINTS = "checkpoints"
REAL_EMBEDDINGS = "real_embeddings.npz"
LOGS = "logs"
SAMPLES = "samples"
MONITOR = "monitor.jsonl"
GENERATOR = "generator.keras"
METRICS = "metrics.json"
EXPORT = "export"

# Inside one SavedModel version.
EXPORT_INFO = os.path.join("assets.extra", "ppgan_export.json")
SERVING_WARMUP = os.path.join("assets.extra", "tf_serving_warmup_requests")
# The TFLite signature and the tensors every exported generator takes and gives.
SIGNATURE = "deidentify"


def is_workdir(path):
    return os.path.isfile(os.path.join(path, CONFIG))


def read_export_info(savedmodel_dir):
    """The contract of one SavedModel version (what a client needs beside the signatures)."""
    with open(os.path.join(savedmodel_dir, EXPORT_INFO)) as f:
        return json.load(f)


def write_export_info(savedmodel_dir, info):
    path = os.path.join(savedmodel_dir, EXPORT_INFO)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(info, f, indent=2)
    return path


def _blessed(version_dir):
    try:
        return read_export_info(version_dir).get("blessed", False)
    except (OSError, ValueError):
        return False


def latest_blessed_savedmodel(export_dir):
    """The newest blessed SavedModel version under an export folder, or None."""
    versions = [
        d for d in glob.glob(os.path.join(export_dir, "savedmodel", "*", "*"))
        if os.path.basename(d).isdigit() and os.path.exists(os.path.join(d, "saved_model.pb")) and _blessed(d)
    ]
    return max(versions, key=lambda d: int(os.path.basename(d))) if versions else None


def portable_contract_path(model_path):
    """The .json contract beside a .tflite or .onnx generator."""
    return model_path.rsplit(".", 1)[0] + ".json"
