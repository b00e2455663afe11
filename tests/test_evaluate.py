"""The evaluation report of a tiny trained run."""

import json
import os

import numpy as np
import pytest

from conftest import write_dataset
from ppgan_tf.evaluation import evaluate


class _EveryImageDetector:
    def detect(self, image):
        return [object()] if image.mean() > 0 else []


def test_age_groups():
    from ppgan_tf.data.manifest import FaceRecord

    ages = {"3": "0-19", "20": "20-39", "59": "40-59", "60": "60+", "": ""}
    for age, group in ages.items():
        assert evaluate.group_of(FaceRecord("k", "", "p", (("age", age),)), "age") == group


def test_crossed_groups():
    from ppgan_tf.data.manifest import FaceRecord

    record = FaceRecord("k", "", "p", (("age", "33"), ("race", "asian")))
    assert evaluate.group_of(record, "race+age") == "asian / 20-39"
    assert evaluate.group_of(FaceRecord("k", "", "p", (("race", "asian"),)), "race+age") == ""


def test_gallery_split_keeps_one_gallery_photo_per_person():
    probes, gallery = evaluate.gallery_split(["a", "a", "b", "c", "c", "c"])
    assert gallery == [0, 3] and probes == [1, 4, 5]


@pytest.mark.slow
def test_a_report_is_written_for_a_tiny_run(tiny_run_copy):
    _, workdir = tiny_run_copy
    report = evaluate.evaluate_run(workdir, facenet_steps=2, detector=_EveryImageDetector(),
                                   group_by=("gender", "age"), attributes=("gender",), attribute_steps=3,
                                   log=lambda _: None)
    out = os.path.join(workdir, evaluate.EVALUATION_SUBDIR)
    for name in ("report.json", "report.md", "tradeoff.png", "facenet_judge/facenet_judge.keras"):
        assert os.path.exists(os.path.join(out, name)), name
    assert {"ppgan", "blur_sigma2", "pixelate_8", "black_mask", "k_same_2"} <= set(report["methods"])
    assert set(report["judges"]) == {"triplet", "facenet", "sface", "dlib", "dlib_10fold"}
    assert report["judges"]["dlib"]["threshold"] == 0.6
    mask = report["methods"]["black_mask"]
    assert mask["detection_rate"] == 0.0 and mask["detection_rate_padded"] == 0.0
    assert report["original_detection_rate"] == 1.0
    for row in report["methods"].values():
        assert 0.0 <= row["triplet_deid_rate"] <= 1.0 and -1.0 <= row["ssim"] <= 1.0
        assert 0 <= row["dlib_identity_switches"] <= report["test_faces"]
    for judge, info in report["judges"].items():
        # A few test faces: too few impostor pairs for 0.1%, perhaps for 1%.
        assert set(info["thresholds_at_far"]) <= {"0.001", "0.01"}
        for row in report["methods"].values():
            for rate in info["thresholds_at_far"]:
                for kind in ("same", "other"):
                    assert 0.0 <= row[f"{judge}_tar_at_far_{rate}_{kind}_photo"] <= 1.0
            assert row[f"{judge}_protection_success"] is None or 0.0 <= row[f"{judge}_protection_success"] <= 1.0
            assert row[f"{judge}_mean_distance"] >= 0.0 and -1.0 <= row[f"{judge}_mean_cosine"] <= 1.0
    with open(os.path.join(out, "report.json")) as f:
        assert json.load(f)["test_faces"] == report["test_faces"]
    for attribute in ("gender", "age"):
        groups = report["groups"][attribute]
        assert sum(methods["ppgan"]["faces"] for methods in groups.values()) == report["test_faces"]
        # The groups' luminance shifts, weighted by their faces, make the whole row's.
        assert np.isclose(sum(m["ppgan"]["faces"] * m["ppgan"]["luminance_shift"] for m in groups.values()),
                          report["test_faces"] * report["methods"]["ppgan"]["luminance_shift"])
    assert report["methods"]["black_mask"]["luminance_shift"] < -20  # a black mask darkens every face
    assert set(report["groups"]["age"]) <= {"0-19", "20-39", "40-59", "60+"}
    gender = report["attributes"]["gender"]
    assert gender["classes"] == ["f", "m"] and set(gender["methods"]) == set(report["methods"])
    assert all(0.0 <= accuracy <= 1.0 for accuracy in [gender["original"], *gender["methods"].values()])
    assert gender["classifier"] == "cnn" and set(gender["kept_by_class"]) == {"original", *report["methods"]}
    assert all(set(kept) <= {"f", "m"} and all(0.0 <= share <= 1.0 for share in kept.values())
               for kept in gender["kept_by_class"].values())
    with open(os.path.join(out, "report.md")) as f:
        text = f.read()
    assert "| ppgan |" in text and "## By gender" in text and "Y shift" in text
    assert "## Attribute preservation: gender" in text
    assert all(f"## Verification by `{judge}` at fixed false-accept rates" in text for judge in report["judges"])
    # A second evaluation reuses the trained judge.
    again = evaluate.evaluate_run(workdir, facenet_steps=2, judge_names=("triplet",), log=lambda _: None)
    assert again["judges"]["triplet"]["threshold"] == report["judges"]["triplet"]["threshold"]
    assert np.isclose(again["methods"]["ppgan"]["ssim"], report["methods"]["ppgan"]["ssim"])


def test_subsample_people_keeps_whole_people_at_random():
    from ppgan_tf.data.images import FaceSet
    from ppgan_tf.data.manifest import FaceRecord

    people = [f"p{i}" for i in range(10) for _ in range(1 + i % 3)]
    records = [FaceRecord(f"k{i}", "", person) for i, person in enumerate(people)]
    faces = FaceSet(np.arange(len(people))[:, None], records, [])
    subset = evaluate.subsample_people(faces, 8, seed=0)
    assert len(subset.images) <= 8 and len(subset.images) >= 6
    for person in set(subset.identities):
        assert subset.identities.count(person) == people.count(person)  # never half a person
    np.testing.assert_array_equal(subset.images[:, 0], [int(r.key[1:]) for r in subset.records])
    assert evaluate.subsample_people(faces, 8, seed=0).identities == subset.identities
    assert evaluate.subsample_people(faces, 8, seed=1).identities != subset.identities
    assert evaluate.subsample_people(faces, None) is faces


def test_another_dataset_without_identities_is_evaluated_with_the_runs_judges(tmp_path, tiny_run_copy, monkeypatch):
    data, workdir = tiny_run_copy
    other = write_dataset(str(tmp_path / "anonymous"), people=12, per_person=1,
                          extra_columns={"race": lambda p: "ab"[p % 2]})
    with open(other) as f:  # drop the identity column: one photo per person, as UTKFace
        rows = [line.rstrip("\n").split(",") for line in f]
    column = rows[0].index("identity")
    with open(other, "w") as f:
        f.writelines(",".join(v for i, v in enumerate(row) if i != column) + "\n" for row in rows)
    report = evaluate.evaluate_run(workdir, facenet_steps=2, judge_names=("triplet", "dlib"), data=other, test_fraction=0.5,
                                   group_by=("race",), attributes=("race",), attribute_classifier="facenet",
                                   include_baselines=False, log=lambda _: None)
    out = evaluate.evaluation_dir(workdir, other)
    assert out.endswith("evaluation_anonymous") and os.path.exists(os.path.join(out, "report.md"))
    assert os.path.exists(os.path.join(out, "split.json"))
    with open(os.path.join(workdir, "split.json")) as f:
        assert json.load(f)["params"]["data"] == data  # the run's own split is untouched
    assert report["test_faces"] == report["test_people"] == 6 and set(report["methods"]) == {"ppgan"}
    assert set(report["judges"]) == {"triplet", "dlib"}  # no 10-fold threshold without positive pairs
    assert report["original_test_false_rejection"] == {"triplet": None, "dlib": None}
    assert report["methods"]["ppgan"]["triplet_rank1_reidentification"] is None
    assert set(report["groups"]["race"]) <= {"a", "b"} and report["attributes"]["race"]["test_faces"] == 6
    race = report["attributes"]["race"]
    assert race["classifier"] == "facenet" and race["classes"] == ["a", "b"]
    assert set(race["kept_by_class"]) == {"original", "ppgan"}
    monkeypatch.setattr(evaluate.run, "trained_against", lambda *_: ["facenet"])
    with pytest.raises(ValueError, match="attribute_classifier=facenet: the generator trained against it"):
        evaluate.evaluate_run(workdir, judge_names=("triplet",), data=other, attributes=("race",),
                              attribute_classifier="facenet", log=lambda _: None)
    monkeypatch.undo()
    assert os.path.exists(os.path.join(workdir, "evaluation", "facenet_judge", "facenet_judge.json"))
    # Again, with the judge in place: the run's own faces are not needed, the numbers are the same.
    again = evaluate.evaluate_run(workdir, facenet_steps=2, judge_names=("triplet",), data=other,
                                  include_baselines=False, log=lambda _: None)
    assert np.isclose(again["methods"]["ppgan"]["triplet_deid_rate"], report["methods"]["ppgan"]["triplet_deid_rate"])


def test_judges_come_by_name_and_those_the_generator_trained_against_are_refused():
    from ppgan_tf.evaluation import judges

    chosen, refused = judges.build_judges(["facenet", "sface", "dlib"], ["sface"], log=lambda _: None)
    assert [judge.name for judge in chosen] == ["facenet", "dlib"]
    assert chosen[1].threshold == 0.6 and chosen[0].threshold == chosen[0].recogniser.threshold
    assert set(refused) == {"sface"} and "trained against" in refused["sface"]
    # The guard's recogniser is refused too: it let through only the faces it no longer matched.
    chosen, refused = judges.build_judges(["facenet", "dlib"], ["sface"], log=lambda _: None, guarded_by="facenet")
    assert [judge.name for judge in chosen] == ["dlib"] and "guard" in refused["facenet"]
    with pytest.raises(ValueError, match="unknown judges"):
        judges.build_judges(["arcface"])


def test_what_a_run_trained_against_includes_its_verificators_teachers():
    from conftest import tiny_config
    from ppgan_tf.training import run

    assert run.trained_against(tiny_config(), {}) == []
    assert run.trained_against(tiny_config(verificators="lightcnn+sface"), {"teachers": []}) == ["sface"]
    assert run.trained_against(tiny_config(), {"teachers": ["facenet"]}) == ["facenet"]


def test_what_a_judged_model_trained_against_comes_from_its_own_record(tmp_path):
    from conftest import tiny_config
    from ppgan_tf import packaged
    from ppgan_tf.training import run

    workdir = tmp_path / "run"
    tiny_config(verificators="lightcnn+sface").save(str(workdir))
    assert run.model_trained_against(str(workdir)) == ["sface"]
    # A model trained on from that run with an ensemble: its packaged record counts, not the run's.
    package = tmp_path / "package"
    package.mkdir()
    (package / packaged.INFO_FILENAME).write_text(json.dumps({"trained_against": ["facenet", "sface"]}))
    assert run.model_trained_against(str(package), default=["sface"]) == ["facenet", "sface"]
    assert run.model_trained_against(str(tmp_path / "generator.tflite"), default=["sface"]) == ["sface"]
    assert run.model_trained_against(None) == packaged.load_info()["trained_against"]


@pytest.mark.slow
def test_a_packaged_model_is_judged_on_a_runs_faces_without_its_judges(tmp_path, tiny_run_copy):
    import keras

    from ppgan_tf import layout, packaged
    from ppgan_tf.config import RunConfig
    from ppgan_tf.training import run, verificator_pretraining

    _, workdir = tiny_run_copy
    config = RunConfig.load(workdir)
    verificator, info = verificator_pretraining.load_verificator(run.verificator_dir(config, workdir))
    package = str(tmp_path / "package")
    packaged.write_packaged_model(keras.saving.load_model(os.path.join(workdir, layout.GENERATOR)), verificator,
                                  {"image_size": config.image_size, "channels": config.channels,
                                   "verificator_threshold": info["threshold"], "trained_against": ["facenet"]},
                                  package)
    with pytest.raises(ValueError, match="own folder"):
        evaluate.evaluate_run(workdir, judge_names=("triplet",), model=package, log=lambda _: None)
    out = str(tmp_path / "judged")
    report = evaluate.evaluate_run(workdir, facenet_steps=2, judge_names=("triplet", "facenet"), model=package,
                                   out=out, include_baselines=False, log=lambda _: None)
    assert report["model"].startswith(f"packaged:{package}") and report["trained_against"] == ["facenet"]
    assert set(report["judges"]) == {"triplet"} and set(report["refused_judges"]) == {"facenet"}
    assert os.path.exists(os.path.join(out, "report.md"))
    assert not os.path.exists(os.path.join(workdir, evaluate.EVALUATION_SUBDIR, "report.json"))
    # The run's own generator on the same faces: the package holds it in float16.
    own = evaluate.evaluate_run(workdir, facenet_steps=2, judge_names=("triplet",), include_baselines=False,
                                log=lambda _: None)
    assert abs(own["methods"]["ppgan"]["ssim"] - report["methods"]["ppgan"]["ssim"]) < 0.01
    assert own["model"] == f"keras:{workdir}"


def test_a_generator_changing_the_luminance_is_judged_raw_and_as_pasted():
    import cv2

    from ppgan_tf.deidentify.backends import Backend

    class Inverting(Backend):
        luminance_only = True

        def generate(self, faces, noise):
            return 255 - faces

    rng = np.random.default_rng(0)  # skin-like faces: a grey level and a mild tint, inside the colour gamut
    faces = (rng.integers(70, 190, (3, 16, 16, 1)) + [[[[20, 0, -20]]]]).astype(np.uint8)
    outputs = evaluate.generator_outputs(Inverting(), faces)
    assert set(outputs) == {"ppgan", evaluate.PASTED}
    np.testing.assert_array_equal(outputs["ppgan"], 255 - faces)
    pasted = np.stack([cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb) for face in outputs[evaluate.PASTED]])
    raw = np.stack([cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb) for face in outputs["ppgan"]])
    original = np.stack([cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb) for face in faces])
    # The generator's luminance, the photo's colours (to the rounding of one colour-space round trip).
    assert np.abs(pasted[..., 0].astype(int) - raw[..., 0]).mean() < 2
    assert np.abs(pasted[..., 1:].astype(int) - original[..., 1:]).mean() < 2
    assert np.abs(pasted[..., 1:].astype(int) - raw[..., 1:]).mean() > 10
    assert set(evaluate.generator_outputs(Inverting(), faces[..., :1])) == {"ppgan"}  # grey faces: nothing to paste
