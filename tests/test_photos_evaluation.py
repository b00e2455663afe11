"""The whole-photo evaluation: held-out photos through the de-identifier, judged on their face crops."""

import csv
import os

import cv2
import numpy as np
import pytest

from conftest import face_photo, tiny_config
from ppgan_tf.deidentify.deidentifier import Deidentifier
from ppgan_tf.evaluation import photos
from ppgan_tf.evaluation.judges import Judge
from ppgan_tf.faces.detection import DlibFrontalDetector
from ppgan_tf.faces import alignment
from test_deidentify import StubBackend


class _RowMeans:
    """A stand-in judge: the unit-normalised mean of each image row, minus grey."""

    threshold = 0.05

    def embed(self, faces):
        rows = faces.astype(np.float32).mean(axis=(2, 3)) - 128.0
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _prepared_run(root, detector, people=6, per_person=2):
    """Photos of ORL people, their aligned crops and manifest (with 'source', as prepare_data writes), a run."""
    rows = []
    for person in range(1, people + 1):
        for shot in range(per_person):
            photo, _ = face_photo(300, 400, top=40 + 20 * shot, left=100 + 30 * shot, person=person)
            source = f"photos/p{person}/{shot}.png"
            os.makedirs(os.path.join(root, "photos", f"p{person}"), exist_ok=True)
            cv2.imwrite(os.path.join(root, source), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
            face = detector.detect(photo)[0]
            crop = alignment.align_face(photo, face.landmarks, 32, 0.2).crop
            path = f"crops/p{person}_{shot}.png"
            os.makedirs(os.path.join(root, "prepared", "crops"), exist_ok=True)
            cv2.imwrite(os.path.join(root, "prepared", path), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
            rows.append({"path": path, "identity": f"p{person}", "gender": "fm"[person % 2], "source": source})
    manifest = os.path.join(root, "prepared", "manifest.csv")
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    workdir = os.path.join(root, "run")
    tiny_config(data=manifest, channels=3, test_fraction=0.5).save(workdir)
    return workdir


@pytest.mark.slow
def test_held_out_photos_are_replaced_and_judged_on_their_faces(tmp_path, detector):
    workdir = _prepared_run(str(tmp_path), detector)
    paths, records = photos.test_photos(workdir, "", str(tmp_path))
    assert paths and all(os.path.isfile(p) for p in paths)
    held_out = {r.identity for r in records}
    assert 0 < len(held_out) < 6  # only the run's test people

    backend = StubBackend()
    backend.channels = 3
    deidentifier = Deidentifier(backend=backend, detector=detector, guard_with="verificator")
    judge = _RowMeans()
    report = photos.evaluate_photos(workdir, "", str(tmp_path), deidentifier, [Judge("rows", judge, judge.threshold)],
                                    detector=detector, group_by=("gender",), trained_against=("sface",),
                                    second_detector=DlibFrontalDetector(),
                                    log=lambda _: None)
    assert report["test_faces"] == len(paths) and report["test_people"] == len(held_out)
    assert report["trained_against"] == ["sface"]
    ppgan, blur = report["methods"]["ppgan"], report["methods"]["blur_sigma2"]
    # The stub inverts faces: far less similar to the originals than a light blur.
    assert ppgan["ssim"] < blur["ssim"] and 0.0 <= ppgan["rows_deid_rate"] <= 1.0
    assert 0.0 <= ppgan["detection_rate_padded"] <= 1.0
    # dlib's detector finds the real faces and not the black mask.
    assert report["original_second_detection_rate"] > 0.5 and report["methods"]["black_mask"]["second_detection_rate"] == 0
    assert set(report["groups"]["gender"]) <= {"f", "m"}
    # Groups' detection rates come from the same per-face detections as the whole row's.
    genders = [methods["ppgan"] for methods in report["groups"]["gender"].values()]
    assert sum(g["faces"] for g in genders) == report["test_faces"]
    assert sum(g["faces"] * g["detection_rate_padded"] for g in genders) == pytest.approx(
        report["test_faces"] * ppgan["detection_rate_padded"])
    assert set(report["groups"]["guard"]) == {"generation 1"}  # the stub's first generation always passes
    table = open(os.path.join(workdir, "evaluation_photos_data", "report.md")).read()
    assert "| ppgan |" in table and "trained against: sface" in table and "| group | faces | SSIM | Y shift |" in table
    # Its header without the luminance shift, as reports written before it (the model card renders those).
    old_rows = {method: {key: value for key, value in row.items() if key != "luminance_shift"}
                for method, row in report["methods"].items()}
    assert "Y shift" not in photos.markdown_table({**report, "methods": old_rows, "groups": {}})
    assert "## Verification by `rows` at fixed false-accept rates" in table
    assert os.path.exists(os.path.join(workdir, "evaluation_photos_data", "tradeoff.png"))
    assert ppgan["rows_mean_distance"] > blur["rows_mean_distance"]  # inverted faces move further than blurred ones
    # One row per judged face, whose facts add up to the report's rates.
    with open(os.path.join(workdir, "evaluation_photos_data", "faces.csv")) as f:
        faces = list(csv.DictReader(f))
    assert len(faces) == report["test_faces"]
    assert {os.path.join(str(tmp_path), face["photo"]) for face in faces} <= set(paths)
    assert {face["guard"] for face in faces} == {"generation 1"} and {face["gender"] for face in faces} <= {"f", "m"}
    assert np.mean([int(face["rows_deidentified"]) for face in faces]) == pytest.approx(ppgan["rows_deid_rate"])
    assert np.mean([int(face["detected_padded"]) for face in faces]) == pytest.approx(ppgan["detection_rate_padded"])
    assert np.mean([float(face["ssim"]) for face in faces]) == pytest.approx(ppgan["ssim"], abs=1e-3)
    assert np.mean([float(face["luminance_shift"]) for face in faces]) == pytest.approx(ppgan["luminance_shift"],
                                                                                      abs=1e-3)
    assert all(float(face["rows_distance"]) >= 0 for face in faces)


def test_the_guard_outcome_names_the_generation_that_passed_the_softening_or_the_fallback():
    from ppgan_tf.deidentify.deidentifier import FaceReport

    assert photos.guard_outcome(FaceReport(box=[], score=1.0, mode="ppgan", guard_tries=3, guard_passed=True)) == \
        "generation 3"
    assert photos.guard_outcome(FaceReport(box=[], score=1.0, mode="ppgan", guard_tries=5, guard_passed=True,
                                           guard_softened=2.0)) == "softened 2"
    assert photos.guard_outcome(FaceReport(box=[], score=1.0, mode="blur", guard_tries=5, fallback="guard")) == "blur"


def test_each_photo_gets_its_own_noise_seed_from_the_first_seed(tmp_path):
    from ppgan_tf.deidentify.deidentifier import FaceReport
    from ppgan_tf.faces.detection import Face

    paths = []
    for index in range(3):
        paths.append(str(tmp_path / f"{index}.png"))
        cv2.imwrite(paths[-1], np.full((80, 80, 3), 100 + index, np.uint8))
    face = Face((20, 20, 40, 40), np.array([[30, 35], [50, 35], [40, 45], [32, 55], [48, 55]], np.float32), 0.99)

    class Recording:
        detector = type("Detector", (), {"detect": staticmethod(lambda photo: [face])})()

        def __init__(self):
            self.seeds = []

        def process(self, photo, faces, seeds):
            self.seeds += seeds
            return photo, [FaceReport(box=list(faces[0].box), score=1.0, mode="ppgan", seed=seeds[0])]

    for first_seed in (0, 7):
        recording = Recording()
        originals, outputs, kept, reports = photos.photo_crops(recording, paths, size=32, first_seed=first_seed)
        assert recording.seeds == [first_seed, first_seed + 1, first_seed + 2] and kept == [0, 1, 2]
        assert [report.seed for report in reports] == recording.seeds and outputs.shape == (3, 32, 32, 3)
