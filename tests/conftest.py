"""Shared fixtures: generated face-like images, a tiny run config, and one tiny trained run per session."""

import csv
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ppgan_tf import config as run_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_FLAGS = [
    "--image_size=32", "--generator_base_filters=8", "--generator_max_filters=16",
    "--discriminator_base_filters=8", "--verificator_width=0.125", "--embedding_dim=16",
    "--verificator_steps=4", "--verificator_batch_size=8", "--test_pairs=40", "--batch_size=4",
    "--test_fraction=0.34", "--summary_every=1",
]


def cli_command(module, workdir, data, *flags):
    """A trainer's command line on a tiny config (32 px faces, narrow networks)."""
    return [sys.executable, "-m", module, f"--workdir={workdir}", f"--data={data}", *TINY_FLAGS, *flags]


def run_cli(command):
    """Runs a command from the repository root; fails the test with its output when it fails."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout + result.stderr


def synthetic_face(identity, variant, size=48):
    """A grey face-like drawing whose proportions depend on the identity."""
    rng = np.random.default_rng(1000 * identity + variant)
    image = np.full((size, size), 30, np.uint8)
    centre = (size // 2 + int(rng.integers(-2, 3)), size // 2)
    axes = (size // 3 + identity % 4, size // 2 - 4 + identity % 3)
    cv2.ellipse(image, centre, axes, 0, 0, 360, 150 + 10 * (identity % 5), -1)
    eye_y = size // 2 - 4 - identity % 3
    for dx in (-1, 1):
        cv2.circle(image, (centre[0] + dx * (5 + identity % 4), eye_y), 2 + identity % 2, 40, -1)
    cv2.line(image, (centre[0] - 5, size // 2 + 8), (centre[0] + 5, size // 2 + 8 + variant % 3), 60, 2)
    noise = rng.normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def write_dataset(root, people=6, per_person=5, size=48, extra_columns=None):
    """Writes PNG faces and a manifest `path,identity[,extra]`; returns the manifest path."""
    rows = []
    for person in range(people):
        for variant in range(per_person):
            rel = f"images/p{person}/{variant}.png"
            os.makedirs(os.path.join(root, f"images/p{person}"), exist_ok=True)
            cv2.imwrite(os.path.join(root, rel), synthetic_face(person, variant, size))
            row = {"path": rel, "identity": f"p{person}"}
            for name, value_of in (extra_columns or {}).items():
                row[name] = value_of(person)
            rows.append(row)
    path = os.path.join(root, "manifest.csv")
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def tiny_config(**changes):
    """A config small enough for a step to take milliseconds: 32x32 faces, narrow nets."""
    values = dict(
        image_size=32,
        channels=1,
        precision="float32",  # a run sets the process-wide policy: keep the tests' numerics fixed
        generator_base_filters=8,
        generator_max_filters=16,
        discriminator_base_filters=8,
        verificator_width=0.125,
        embedding_dim=16,
        verificator_steps=4,
        verificator_batch_size=8,
        test_pairs=40,
        steps=4,
        batch_size=4,
        checkpoint_every=2,
        summary_every=1,
        sample_every=2,
        test_fraction=0.34,
    )
    values.update(changes)
    return run_config.RunConfig(**values).validate()


@pytest.fixture
def dataset_manifest(tmp_path):
    return write_dataset(str(tmp_path / "faces"))


def face_photo(height=300, width=400, top=60, left=120, face_scale=1.6, person=1):
    """An RGB photo with one real face: a vendored ORL face pasted on a plain background."""
    from ppgan_tf.data import manifest

    path = manifest.resolve_source("builtin:orl").replace("manifest.csv", f"images/s{person}/1.png")
    face = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    face = cv2.resize(face, None, fx=face_scale, fy=face_scale, interpolation=cv2.INTER_LINEAR)
    photo = np.full((height, width), 90, np.uint8)
    photo[top:top + face.shape[0], left:left + face.shape[1]] = face
    return cv2.cvtColor(photo, cv2.COLOR_GRAY2RGB), (left, top, face.shape[1], face.shape[0])


@pytest.fixture(scope="session")
def detector():
    from ppgan_tf.faces.detection import FaceDetector

    return FaceDetector(threshold=0.9, min_face_size=20, max_side=640)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(manifest, workdir) of one tiny run trained once per session by the CLI: 6 people x 5 faces, 3 steps.

    The faces carry `gender` and `age` columns. Read it only; a test that
    writes into a run takes `tiny_run_copy`.
    """
    root = tmp_path_factory.mktemp("tiny_run")
    data = write_dataset(str(root / "faces"), people=6, per_person=5,
                         extra_columns={"gender": lambda p: "fm"[p % 2], "age": lambda p: str(15 + 10 * p)})
    workdir = str(root / "run")
    run_cli(cli_command("trainers.train_ppgan", workdir, data, "--steps=3"))
    return data, workdir


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path):
    """(manifest, workdir) of a private copy of the session's tiny run."""
    data, workdir = tiny_run
    return data, str(shutil.copytree(workdir, tmp_path / "run"))


@pytest.fixture(scope="session")
def tiny_export(tiny_run, tmp_path_factory):
    """(workdir, export report) of a copy of the tiny run exported to every format, blessed at any quality."""
    from export import blessing, exporter

    workdir = str(shutil.copytree(tiny_run[1], tmp_path_factory.mktemp("tiny_export") / "run"))
    report = exporter.export_run(workdir, thresholds=blessing.Thresholds(min_deid_rate=0.0, min_ssim=-1.0),
                                 max_faces=8, log=lambda _: None)
    return workdir, report


@pytest.fixture(scope="session")
def tiny_ablation(tmp_path_factory):
    """(config, workdir, report) of the four-setting ablation on tiny data, run once per session: 2 steps each.

    Read it only; the notebook test resumes a copy of it.
    """
    from ppgan_tf.evaluation import ablation

    root = tmp_path_factory.mktemp("ablation")
    config = tiny_config(data=write_dataset(str(root / "faces"), people=6, per_person=5), steps=2)
    workdir = str(root / "ablation")
    report = ablation.run_ablation(config, workdir, facenet_steps=2, judge_names=("triplet",), log=lambda _: None)
    return config, workdir, report
