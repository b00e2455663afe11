"""The packaged-model format: written with float16 weights, loaded and checked, used by the de-identifier."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import face_photo
from ppgan_tf import packaged
from ppgan_tf.deidentify.backends import PackagedBackend, load_backend
from ppgan_tf.deidentify.deidentifier import Deidentifier
from ppgan_tf.models import LightCNN9, UNetGenerator

SIZE = 32


@pytest.fixture
def package(tmp_path):
    generator = UNetGenerator(image_size=SIZE, channels=3, base_filters=8, max_filters=16)
    generator(tf.zeros([1, SIZE, SIZE, 3]), noise_seeds=tf.zeros([1], tf.int64))
    verificator = LightCNN9(channels=3, width=0.125, embedding_dim=16)
    verificator(tf.zeros([1, SIZE, SIZE, 3]))
    info = {"image_size": SIZE, "channels": 3, "margin": 0.2, "verificator_threshold": 0.7}
    directory = str(tmp_path / "model")
    packaged.write_packaged_model(generator, verificator, info, directory)
    return directory, generator, verificator


def test_a_packaged_model_loads_with_float16_weights_and_the_same_outputs(package):
    directory, generator, verificator = package
    loaded_generator, loaded_verificator, info = packaged.load_packaged_model(directory)
    assert info["verificator_threshold"] == 0.7 and set(info["sha256"]) == set(packaged.WEIGHT_FILES.values())
    faces = tf.random.uniform([2, SIZE, SIZE, 3], -1, 1, seed=1)
    seeds = tf.constant([5, 6], tf.int64)
    np.testing.assert_allclose(loaded_generator(faces, noise_seeds=seeds), generator(faces, noise_seeds=seeds),
                               atol=2e-2)
    np.testing.assert_allclose(loaded_verificator(faces), verificator(faces), atol=2e-2)
    sizes = sum(os.path.getsize(os.path.join(directory, name)) for name in packaged.WEIGHT_FILES.values())
    # 2 bytes a weight, plus each array's npz entry (zip and .npy headers, about 300 bytes), at most.
    arrays = len(generator.weights) + len(verificator.weights)
    assert sizes < 2 * (generator.count_params() + verificator.count_params()) + 400 * arrays


def test_an_altered_packaged_model_is_refused(package):
    directory, _, _ = package
    path = os.path.join(directory, packaged.WEIGHT_FILES["generator"])
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="altered"):
        packaged.load_packaged_model(directory)


def test_a_packaged_model_folder_is_a_model_for_the_deidentifier(package, detector):
    directory, _, _ = package
    backend = load_backend(directory)
    assert isinstance(backend, PackagedBackend) and backend.image_size == SIZE and backend.has_verificator
    photo, _ = face_photo()
    result, faces = Deidentifier(directory, detector=detector, guard_with="verificator").process(photo, seeds=[1])
    assert len(faces) == 1 and faces[0].mode in ("ppgan", "blur") and not np.array_equal(result, photo)


def test_the_deidentifier_runs_the_packages_tflite_generator_with_the_keras_generators_faces(package):
    from export.packaging import add_portable_generator

    directory, _, _ = package
    add_portable_generator(directory)
    portable, keras_route = load_backend(directory), PackagedBackend(directory, portable=False)
    assert "keras" not in portable.name and "keras" in keras_route.name
    faces = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    noise = portable.noise([5, 6, 7, 8])
    assert portable.noise_size == keras_route.noise_size
    expected = keras_route.generate(faces, noise).astype(int)
    assert np.abs(portable.generate(faces, noise).astype(int) - expected).max() <= 2


def test_without_a_shipped_model_the_error_says_to_give_one(monkeypatch, tmp_path):
    monkeypatch.setattr(packaged, "PACKAGED_DIR", str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="--model"):
        load_backend(None)


def test_a_trained_run_is_packaged_with_its_float16_check_and_a_card_naming_each_files_checksum(tmp_path, tiny_run):
    import sys

    from conftest import run_cli

    workdir = tiny_run[1]
    out = str(tmp_path / "pretrained")
    run_cli([sys.executable, "-m", "export.package_model", f"--workdir={workdir}", f"--out={out}", "--max_faces=8"])
    generator, _, info = packaged.load_packaged_model(out)
    assert info["steps"] == 3 and info["channels"] == 1 and generator.image_size == 32
    card = open(os.path.join(out, "MODEL_CARD.md")).read()
    for name in [*packaged.WEIGHT_FILES.values(), packaged.PORTABLE_GENERATOR]:
        assert f"`{name}`: sha256 `{packaged._sha256(os.path.join(out, name))}`" in card
    assert "research use only" in card
    with open(os.path.join(out, "package_report.json")) as f:
        assert {"float32", "float16", "tflite_float16"} <= set(json.load(f)["sface"])
    # The package names its data, not the machine it was made on.
    machine_paths = {os.path.dirname(tiny_run[0]), workdir}
    text = card + open(os.path.join(out, packaged.INFO_FILENAME)).read()
    assert not any(path in text for path in machine_paths)
    assert info["training_data"] == os.path.basename(os.path.dirname(tiny_run[0]))
    # A chosen checkpoint packages as the finished run's generator when it is the same step.
    from export import packaging

    at_step = str(tmp_path / "at_step")
    assert packaging.package_run(workdir, at_step, max_faces=8, log=lambda _: None, steps=[3])[0]
    info = packaged.load_info(at_step)
    assert info["steps"] == 3 and info["averaged_steps"] == []
    assert "(the mean of its weights at steps 2, 3)" in packaging.model_card({**info, "averaged_steps": [2, 3]}, {})
    assert "the mean of" not in open(os.path.join(at_step, "MODEL_CARD.md")).read()
    with np.load(os.path.join(out, packaged.WEIGHT_FILES["generator"])) as final, \
            np.load(os.path.join(at_step, packaged.WEIGHT_FILES["generator"])) as chosen:
        assert final.files == chosen.files and all(np.array_equal(final[k], chosen[k]) for k in final.files)
    # A new evaluation's card leaves the weights, model.json and the float16 check as they were.
    kept = {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out) if name != "MODEL_CARD.md"}
    notes = tmp_path / "notes.md"
    notes.write_text("- Re-judged with the guard's new defaults.")
    run_cli([sys.executable, "-m", "export.package_model", "--card_only", f"--out={out}", f"--notes={notes}"])
    assert "Re-judged with the guard's new defaults." in open(os.path.join(out, "MODEL_CARD.md")).read()
    assert {name: open(os.path.join(out, name), "rb").read() for name in kept} == kept
    assert sorted(os.listdir(out)) == sorted([*kept, "MODEL_CARD.md"])
