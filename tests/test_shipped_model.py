"""The pretrained model that ships inside the package: its files, its card, and that it works with no --model."""

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, face_photo
from ppgan_tf import packaged


def _card_checksums(directory):
    card = open(os.path.join(directory, "MODEL_CARD.md"), encoding="utf-8").read()
    return dict(re.findall(r"- `([^`]+)`: sha256 `([0-9a-f]{64})`", card))


def test_the_shipped_files_match_the_checksums_in_the_model_card_and_fit_the_size_limit():
    directory = packaged.PACKAGED_DIR
    checksums = _card_checksums(directory)
    assert set(checksums) == {*packaged.WEIGHT_FILES.values(), packaged.PORTABLE_GENERATOR}
    for name, digest in checksums.items():
        assert packaged._sha256(os.path.join(directory, name)) == digest, name
    assert packaged.load_info()["sha256"] == checksums
    total = sum(os.path.getsize(os.path.join(directory, name)) for name in checksums)
    assert total <= 100 * 2**20  # generator and verificator together at most 100 MB
    card = open(os.path.join(directory, "MODEL_CARD.md"), encoding="utf-8").read()
    assert "research use only" in card and "trained against" in card.lower()


def test_the_shipped_model_names_its_data_and_no_path_of_the_machine_it_was_made_on():
    def strings(value):
        if isinstance(value, dict):
            return [s for v in value.values() for s in strings(v)]
        if isinstance(value, list):
            return [s for v in value for s in strings(v)]
        return [value] if isinstance(value, str) else []

    info = packaged.load_info()
    assert not [s for s in strings(info) if os.path.isabs(s) or os.sep + "work" + os.sep in s]
    card = open(os.path.join(packaged.PACKAGED_DIR, "MODEL_CARD.md"), encoding="utf-8").read()
    for name in info["training_data"].split(","):
        assert f"- `{name}`: " in card and "see its own licence" not in card


def test_ppgan_deidentify_without_a_model_replaces_the_face_of_a_vendored_photo(tmp_path):
    import cv2

    from ppgan_tf.deidentify import cli

    photo, (left, top, width, height) = face_photo()
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    assert cli.main([str(source), "-o", str(tmp_path / "out"), "--seed", "3"]) == 0
    result = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "photo.png")), cv2.COLOR_BGR2RGB)
    face = (slice(top + height // 4, top + 3 * height // 4), slice(left + width // 4, left + 3 * width // 4))
    assert np.abs(result[face].astype(int) - photo[face].astype(int)).mean() > 2
    corner = (slice(0, 40), slice(0, 40))
    np.testing.assert_array_equal(result[corner], photo[corner])


def test_de_identifying_with_the_shipped_model_never_loads_tensorflow(tmp_path):
    """The default route (YuNet, the packaged TFLite generator, FaceNet through OpenCV) starts without TensorFlow."""
    import cv2

    photo, _ = face_photo()
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    probe = (
        "import sys\n"
        "from ppgan_tf.deidentify import cli\n"
        f"assert cli.main([{str(source)!r}, '-o', {str(tmp_path / 'out')!r}, '--seed', '3']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not loaded, loaded[:5]\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    written = cv2.imread(str(tmp_path / "out" / "photo.png"))
    assert written is not None and not np.array_equal(cv2.cvtColor(written, cv2.COLOR_BGR2RGB), photo)


def test_the_shipped_tflite_generator_gives_the_shipped_keras_generators_faces():
    import cv2

    from ppgan_tf.data import manifest
    from ppgan_tf.deidentify.backends import PackagedBackend

    portable, keras_route = PackagedBackend(), PackagedBackend(portable=False)
    folder = os.path.dirname(manifest.resolve_source("builtin:orl"))
    size = portable.image_size
    photos = [cv2.imread(os.path.join(folder, f"images/s{person}/1.png")) for person in range(1, 5)]
    faces = np.stack([cv2.cvtColor(cv2.resize(photo, (size, size)), cv2.COLOR_BGR2RGB) for photo in photos])
    noise = portable.noise([11, 12, 13, 14])
    expected = keras_route.generate(faces, noise).astype(int)
    assert np.abs(portable.generate(faces, noise).astype(int) - expected).max() <= 4  # package_report.json: 3
    assert np.abs(portable.generate(faces, portable.noise([1, 2, 3, 4])).astype(int) - expected).mean() > 1


def test_a_deidentifier_with_no_arguments_uses_the_shipped_model():
    from ppgan_tf.deidentify.deidentifier import Deidentifier

    deidentifier = Deidentifier()
    assert deidentifier.backend.name.startswith("packaged:")
    photo, _ = face_photo()
    result, faces = deidentifier.process(photo, seeds=[5])
    assert len(faces) == 1 and faces[0].mode in ("ppgan", "blur")
    again, _ = deidentifier.process(photo, seeds=[5])
    np.testing.assert_array_equal(result, again)  # one seed, one face


@pytest.mark.slow
def test_the_shipped_model_loads_from_an_installed_wheel_not_the_source_tree(tmp_path):
    """Builds the wheel, installs it alone into a folder, and de-identifies with it from elsewhere."""
    source = shutil.copytree(ROOT, tmp_path / "source", ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", "ppgan_runs"))  # the build leaves the clone as it was
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "wheel"), str(source)], check=True, capture_output=True)
    wheel = next((tmp_path / "wheel").glob("ppgan_tf-*.whl"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    probe = (
        "import os, ppgan_tf, numpy as np\n"
        "from ppgan_tf import packaged\n"
        "from ppgan_tf.deidentify.deidentifier import Deidentifier\n"
        f"assert ppgan_tf.__file__.startswith({str(site)!r}), ppgan_tf.__file__\n"
        "generator, verificator, info = packaged.load_packaged_model()\n"
        "faces = np.full((1, info['image_size'], info['image_size'], info['channels']), 128, np.uint8)\n"
        "backend = Deidentifier(guard=False).backend\n"
        "print('OK', backend.generate(faces, backend.noise([1])).shape)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK (1, " in result.stdout
