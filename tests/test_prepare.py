"""prepare_data: every kind of bad photo handled, resumable, and Beam equal to the local tool."""

import io
import json
import os

import cv2
import numpy as np
import PIL.Image
import pytest

from conftest import face_photo
from ppgan_tf.data import images, manifest, prepare, tfrecords
from test_data import _png_header

SETTINGS = prepare.PrepareSettings(size=64, margin=0.2, policy="largest", threshold=0.9, max_side=640)


def _jpeg(rgb, **save_args):
    buffer = io.BytesIO()
    PIL.Image.fromarray(rgb).save(buffer, "JPEG", quality=92, **save_args)
    return buffer.getvalue()


def _cmyk_jpeg(rgb):
    buffer = io.BytesIO()
    PIL.Image.fromarray(rgb).convert("CMYK").save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def _png(array):
    ok, data = cv2.imencode(".png", array)
    assert ok
    return data.tobytes()


def write_photo_folder(root):
    """Good photos of every layout, bad files of every kind; returns {name: expected problem or None}."""
    photo, _ = face_photo()
    bgr = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    files = {
        "alice/good.jpg": (_jpeg(photo), None),
        "alice/grey.png": (_png(photo[:, :, 0]), None),
        "alice/rgba.png": (_png(np.dstack([bgr, np.full(photo.shape[:2], 255, np.uint8)])), None),
        "alice/deep16.png": (_png(bgr.astype(np.uint16) * 257), None),
        "bob/cmyk.jpg": (_cmyk_jpeg(photo), None),
        "bob/rotated.jpg": (_jpeg(np.ascontiguousarray(np.rot90(photo, 1)), exif=exif.tobytes()), None),
        "bob/empty.jpg": (b"", "empty file"),
        "bob/text.jpg": (b"this is not an image\n" * 20, "not a decodable image"),
        "bob/dot.png": (_png(np.zeros((1, 1), np.uint8)), "too small"),
        "bob/blank.png": (_png(np.full((200, 200), 128, np.uint8)), prepare.NO_FACE),
        # 182 MP declared in 0.1 kB: Pillow's own bomb check fires before the project's 200 MP limit.
        "bob/bomb.png": (_png_header(14_000, 13_000), "too large"),
        # Same name, other extension: its crop must not overwrite good.jpg's.
        "alice/good.png": (_png(bgr), None),
    }
    truncated = _jpeg(photo)
    files["carol/truncated.jpg"] = (truncated[: len(truncated) // 3], "any")
    for name, (data, _) in files.items():
        os.makedirs(os.path.join(root, os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return {name: problem for name, (_, problem) in files.items()}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("photos"))
    return root, write_photo_folder(root)


@pytest.fixture(scope="module")
def local_run(photos, tmp_path_factory):
    root, _ = photos
    output = str(tmp_path_factory.mktemp("local"))
    summary = prepare.prepare_local(prepare.input_records(root), output, SETTINGS, workers=2, log=lambda _: None)
    return output, summary


def test_every_kind_of_photo_is_handled_or_reported(photos, local_run):
    _, expected = photos
    output, summary = local_run
    assert summary["photos"] == len(expected)
    skipped = summary["skipped_files"]
    for name, problem in expected.items():
        if problem is None:
            assert name not in skipped, f"{name}: {skipped.get(name)}"
        elif problem != "any":
            assert name in skipped and skipped[name].startswith(problem), (name, skipped.get(name))
    # EXIF orientation was applied: the sideways-stored face was found upright.
    with open(os.path.join(output, prepare.PROGRESS_FILENAME)) as f:
        entries = {e["key"]: e for e in map(json.loads, f)}
    landmarks = np.array(entries["bob/rotated.jpg"]["faces"][0]["landmarks"])
    assert landmarks[:2, 1].max() < landmarks[3:, 1].min()
    assert summary["faces"] == summary["photos_with_faces"] >= 6


def test_the_manifest_feeds_training(photos, local_run):
    output, summary = local_run
    records = manifest.load_records(os.path.join(output, "manifest.csv"))
    assert len(records) == summary["faces"]
    assert {r.identity for r in records} <= {"alice", "bob", "carol"}
    faces = images.load_faces(records, 32, 1)
    assert faces.images.shape == (summary["faces"], 32, 32, 1) and not faces.skipped
    crop = cv2.imread(os.path.join(output, records[0].key))
    assert crop.shape == (64, 64, 3)


def test_a_second_run_does_no_work_twice(photos, local_run):
    root, _ = photos
    output, first = local_run
    stamps = {p: os.path.getmtime(os.path.join(output, p)) for p in _crops(output)}
    again = prepare.prepare_local(prepare.input_records(root), output, SETTINGS, workers=1, log=lambda _: None)
    assert again["processed_this_run"] == 0
    assert {k: again[k] for k in ("photos", "faces", "skipped")} == {k: first[k] for k in ("photos", "faces", "skipped")}
    assert stamps == {p: os.path.getmtime(os.path.join(output, p)) for p in _crops(output)}


def test_a_crash_mid_run_redoes_only_the_unfinished_photo(photos, tmp_path):
    root, _ = photos
    records = [r for r in prepare.input_records(root) if r.identity == "alice"]
    prepare.prepare_local(records, str(tmp_path), SETTINGS, workers=1, log=lambda _: None)
    progress = os.path.join(str(tmp_path), prepare.PROGRESS_FILENAME)
    with open(progress) as f:
        lines = f.readlines()
    with open(progress, "w") as f:
        f.writelines(lines[:-1] + [lines[-1][:10]])  # the last photo's line cut short
    again = prepare.prepare_local(records, str(tmp_path), SETTINGS, workers=1, log=lambda _: None)
    assert again["processed_this_run"] == 1 and again["faces"] == len(records)


def _crops(output):
    return sorted(
        os.path.relpath(os.path.join(d, n), output)
        for d, _, names in os.walk(os.path.join(output, "crops")) for n in names
    )


def test_beam_direct_runner_writes_what_the_local_tool_writes(photos, local_run, tmp_path):
    pytest.importorskip("apache_beam")
    from ppgan_tf.data import beam_pipeline

    root, _ = photos
    output, local = local_run
    beam_dir = str(tmp_path / "beam")
    summary = beam_pipeline.run(prepare.input_records(root), beam_dir, SETTINGS, ["--runner=DirectRunner"], num_shards=2)
    assert {k: summary[k] for k in ("photos", "photos_with_faces", "faces")} == {
        k: local[k] for k in ("photos", "photos_with_faces", "faces")}
    assert summary["skipped"] == local["skipped"]
    shards = sorted(f for f in os.listdir(beam_dir) if f.endswith(".tfrecord"))
    assert len(shards) == 2
    beam_records = tfrecords.read_face_records(os.path.join(beam_dir, "faces-*.tfrecord"))
    local_records = {r.key: r for r in manifest.load_records(os.path.join(output, "manifest.csv"))}
    assert len(beam_records) == len(local_records)
    for record in beam_records:
        source, index = record.key.rsplit("#", 1)
        local_crop = cv2.cvtColor(cv2.imread(os.path.join(output, prepare.crop_path(source, int(index)))), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(images.decode_record(record, 3), local_crop)
        assert record.identity == local_records[prepare.crop_path(source, int(index))].identity
    with open(os.path.join(beam_dir, "skipped.jsonl")) as f:
        assert {json.loads(line)["key"] for line in f} == set(local["skipped_files"])
    # Training reads the TFRecords directly.
    faces = images.load_faces(manifest.load_records(os.path.join(beam_dir, "faces-*.tfrecord")), 32, 3)
    assert faces.images.shape == (len(beam_records), 32, 32, 3)


def test_the_prepare_data_command(photos, tmp_path):
    import subprocess
    import sys

    root, _ = photos
    result = subprocess.run(
        [sys.executable, "-m", "trainers.prepare_data", f"--input={root}", f"--output={tmp_path}", "--size=64",
         "--max_side=640", "--workers=1"],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert summary["faces"] >= 6 and summary["skipped"]["no face found"] == 1
    with open(tmp_path / prepare.SUMMARY_FILENAME) as f:
        assert json.load(f)["settings"]["size"] == 64


@pytest.mark.parametrize("key", ["/abs/path/a.jpg", "../../etc/p.png", "a/../../b.jpg", "./c.JPG", "plain.png"])
def test_crop_paths_never_leave_the_output_folder(key, tmp_path):
    path = prepare.crop_path(key, 3)
    assert path.startswith("crops" + os.sep) and path.endswith("_3.png")
    resolved = os.path.realpath(os.path.join(tmp_path, path))
    assert resolved.startswith(os.path.realpath(os.path.join(tmp_path, "crops")) + os.sep)
