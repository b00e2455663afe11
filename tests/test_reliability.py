"""Reliability defects found with hostile inputs: each test failed before its fix."""

import io
import os
import stat

import cv2
import numpy as np
import PIL.Image

from conftest import face_photo
from ppgan_tf.data import prepare
from ppgan_tf.deidentify import cli, files
from test_deidentify import _exif, _run_cli, _write_video


def _photo_file(path, photo=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), (photo if photo is not None else face_photo()[0])[:, :, ::-1])
    return path


def test_keep_metadata_keeps_a_camera_photos_exif_sub_ifd(tmp_path):
    photo, _ = face_photo()
    exif = PIL.Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x8769] = {0x9003: "2024:05:01 10:00:00", 0x829A: 0.01}  # the Exif sub-IFD: date taken, exposure
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}
    buffer = io.BytesIO()
    PIL.Image.fromarray(photo).save(buffer, "JPEG", exif=exif.tobytes())
    source = tmp_path / "camera.jpg"
    source.write_bytes(buffer.getvalue())
    assert _run_cli(source, "-o", tmp_path / "kept", "--replacewith=blur", "--keep-metadata") == 0
    kept = _exif(tmp_path / "kept" / "camera.jpg")
    assert kept[0x010F] == "Canon" and 0x8825 not in kept
    assert kept.get_ifd(0x8769)[0x9003] == "2024:05:01 10:00:00"


def test_pgm_photos_are_written_as_pgm(tmp_path):
    grey = cv2.cvtColor(face_photo()[0], cv2.COLOR_RGB2GRAY)
    source = tmp_path / "in" / "face.pgm"
    source.parent.mkdir()
    cv2.imwrite(str(source), grey)
    assert _run_cli(source, "-o", tmp_path / "out", "--replacewith=blur") == 0
    written = cv2.imread(str(tmp_path / "out" / "face.pgm"), cv2.IMREAD_UNCHANGED)
    assert written.shape == grey.shape


def test_two_inputs_with_one_name_are_refused_before_any_work(tmp_path):
    first, second = _photo_file(tmp_path / "x" / "a.jpg"), _photo_file(tmp_path / "y" / "a.jpg")
    jobs, problems = cli.plan_jobs([str(first), str(second)], str(tmp_path / "out"), log=lambda _: None)
    assert [job.source for job in jobs] == [str(first)]
    assert str(first) in problems[str(second)]
    for album in ("one", "two"):
        _photo_file(tmp_path / album / "photos" / "p.png")
    jobs, problems = cli.plan_jobs([str(tmp_path / "one" / "photos"), str(tmp_path / "two" / "photos")],
                                   str(tmp_path / "out"), log=lambda _: None)
    assert len(jobs) == 1 and len(problems) == 1
    assert _run_cli(first, second, "-o", tmp_path / "out", "--replacewith=blur") == 1  # the refused one fails


def test_an_output_folder_inside_the_input_is_never_read_back(tmp_path):
    folder = tmp_path / "album"
    _photo_file(folder / "a.png")
    for _ in range(2):
        assert _run_cli(folder, "-o", folder / "anonymised", "--replacewith=blur") == 0
    written = [os.path.relpath(os.path.join(d, n), folder) for d, _, names in os.walk(folder) for n in names]
    assert sorted(p for p in written if p.endswith(".png")) == ["a.png", os.path.join("anonymised", "album", "a.png")]


def test_an_output_that_would_replace_its_input_is_refused(tmp_path):
    source = _photo_file(tmp_path / "a.png")
    jobs, problems = cli.plan_jobs([str(source)], str(source), log=lambda _: None)
    assert jobs == [] and "replace the input" in problems[str(source)]


def test_symlinked_folders_are_followed_once(tmp_path):
    real = tmp_path / "real"
    _photo_file(real / "a.png")
    album = tmp_path / "album"
    album.mkdir()
    os.symlink(real, album / "linked")
    os.symlink(album, album / "linked" / "loop")  # a cycle
    jobs, problems = cli.plan_jobs([str(album)], str(tmp_path / "out"), log=lambda _: None)
    assert [os.path.relpath(job.source, album) for job in jobs] == [os.path.join("linked", "a.png")]


def test_a_truncated_video_fails_and_writes_nothing(tmp_path):
    source = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(source, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    photo, _ = face_photo(240, 320, top=40, left=60)
    for i in range(30):
        writer.write(np.roll(photo, 3 * i, axis=1)[:, :, ::-1])
    writer.release()
    with open(source, "r+b") as f:
        f.truncate(os.path.getsize(source) // 2)
    assert _run_cli(source, "-o", tmp_path / "out", "--replacewith=blur") == 1
    assert not os.path.exists(tmp_path / "out" / "clip.avi")


def test_outputs_get_the_permissions_of_any_new_file(tmp_path):
    source = _photo_file(tmp_path / "a.png")
    video = str(tmp_path / "v.mp4")
    _write_video(video, frames=3)
    assert _run_cli(source, video, "-o", tmp_path / "out", "--replacewith=blur", "--keep-audio") == 0
    umask = os.umask(0)
    os.umask(umask)
    for name in ("a.png", "v.mp4"):
        assert stat.S_IMODE(os.stat(tmp_path / "out" / name).st_mode) == 0o666 & ~umask


def test_crops_of_photos_differing_only_in_extension_stay_apart():
    assert prepare.crop_path("people/x.jpg", 0) != prepare.crop_path("people/x.png", 0)


def test_blending_in_the_face_region_equals_blending_the_whole_photo(detector):
    from ppgan_tf.deidentify import replace
    from ppgan_tf.faces import alignment

    photo, _ = face_photo(900, 1200, top=300, left=500)
    face = detector.detect(photo)[0]
    aligned = alignment.align_face(photo, face.landmarks, 64, 0.2)
    fake = 255 - aligned.crop
    mask = replace.face_mask(64, 0.2)
    result, (x0, y0, x1, y1) = replace.blend_into_photo(photo, fake, aligned, mask)
    # The whole-photo computation the region version replaces.
    warped, coverage = alignment.warp_to_photo(fake, aligned.to_photo, photo.shape)
    weight, _ = alignment.warp_to_photo(mask, aligned.to_photo, photo.shape)
    weight = (weight[:, :, 0] * coverage)[:, :, None]
    expected = np.clip(np.round(photo * (1 - weight) + warped * weight), 0, 255).astype(np.uint8)
    expected = np.where(weight > 0, expected, photo)
    assert np.abs(result.astype(int) - expected.astype(int)).max() <= 1
    assert (x1 - x0) * (y1 - y0) < photo.shape[0] * photo.shape[1] / 10


def test_a_push_target_that_is_a_file_is_refused_before_any_work(tmp_path):
    import pytest

    from export import blessing, exporter

    target = tmp_path / "models"
    target.write_text("not a folder")
    with pytest.raises(blessing.PushRefused, match="is a file"):
        exporter.export_run(str(tmp_path / "no_run_needed"), push_to=str(target))


def test_ppgan_deidentify_takes_the_newest_blessed_export_only(tmp_path):
    from ppgan_tf import layout

    for version, blessed in ((100, True), (200, False)):
        folder = tmp_path / "export" / "savedmodel" / "ppgan" / str(version)
        folder.mkdir(parents=True)
        (folder / "saved_model.pb").write_bytes(b"")
        layout.write_export_info(str(folder), {"blessed": blessed})
    assert layout.latest_blessed_savedmodel(str(tmp_path / "export")).endswith(os.path.join("ppgan", "100"))


def test_the_serving_bytes_signature_refuses_a_huge_image_before_decoding():
    import pytest
    import tensorflow as tf

    from export import savedmodel
    from test_data import _png_header

    bomb = tf.constant(_png_header(20_000, 20_000))
    assert int(savedmodel.declared_pixels(bomb)) == 400_000_000
    with pytest.raises(tf.errors.InvalidArgumentError, match="too large"):
        savedmodel.decode_request_image(bomb, 3, 32)
    small = tf.io.encode_png(tf.zeros([40, 30, 3], tf.uint8))
    assert int(savedmodel.declared_pixels(small)) == 1200
    assert savedmodel.decode_request_image(small, 3, 32).shape == (32, 32, 3)
    jpeg = tf.io.encode_jpeg(tf.zeros([20, 50, 3], tf.uint8))
    assert int(savedmodel.declared_pixels(jpeg)) == 1000
    bmp = cv2.imencode(".bmp", np.zeros((7, 9, 3), np.uint8))[1].tobytes()
    assert int(savedmodel.declared_pixels(tf.constant(bmp))) == 63


def test_a_remembered_track_is_blurred_not_given_a_new_face(detector):
    from ppgan_tf.deidentify.deidentifier import Deidentifier
    from test_deidentify import StubBackend

    photo, _ = face_photo()
    face = detector.detect(photo)[0]
    deidentifier = Deidentifier(backend=StubBackend(), detector=detector, guard_with="verificator")
    _, reports = deidentifier.process(photo, [face, face], [1, 2], [0, 1], [False, True])
    assert reports[0].mode == "ppgan" and not reports[0].remembered
    assert reports[1].mode == "blur" and reports[1].remembered


class _Crowd:
    """A detector that finds the same face 70 times."""

    def __init__(self, face):
        self.face = face

    def detect(self, image):
        return [self.face] * 70


def test_a_fixed_seed_on_a_photo_with_more_than_64_faces(tmp_path, detector):
    from ppgan_tf.deidentify.deidentifier import Deidentifier

    photo, _ = face_photo()
    source = _photo_file(tmp_path / "crowd.png", photo)
    deidentifier = Deidentifier(replacewith="blur", detector=_Crowd(detector.detect(photo)[0]))
    result = files.deidentify_photo(deidentifier, str(source), str(tmp_path / "out" / "crowd.png"), seed=7)
    assert result["faces"] == 70 and [f["seed"] for f in result["face_reports"]] == list(range(7, 77))


def test_the_hostile_corpus_through_training_loading_deidentification_and_serving(tmp_path, capsys):
    """The prepare_data corpus (test_prepare.write_photo_folder) through the other entry points."""
    import tensorflow as tf

    from export import savedmodel
    from ppgan_tf.data import images as face_images
    from ppgan_tf.data import manifest as face_manifest
    from test_prepare import write_photo_folder

    root = str(tmp_path / "photos")
    expected = write_photo_folder(root)
    bad = {name for name, problem in expected.items() if problem not in (None, prepare.NO_FACE)}

    # Training's loader: every bad file skipped with its reason, the rest loaded.
    records = [face_manifest.FaceRecord(key=name, path=os.path.join(root, name), identity=name.split("/")[0])
               for name in expected]
    faces = face_images.load_faces(records, 32, 3)
    assert {key for key, _ in faces.skipped} == bad
    assert len(faces.records) == len(expected) - len(bad)

    # ppgan-deidentify: one line naming each bad file, the batch goes on, exit status 1, nothing overwritten.
    out = tmp_path / "out"
    assert _run_cli(root, "-o", out, "--replacewith=blur") == 1
    err = capsys.readouterr().err
    for name in bad:
        assert sum(os.path.join(root, name) in line for line in err.splitlines()) == 1, name
        assert not os.path.exists(out / "photos" / name)
    written = {os.path.relpath(os.path.join(d, n), out / "photos") for d, _, names in os.walk(out / "photos")
               for n in names}
    assert written == set(expected) - bad
    before = {name: os.path.getmtime(out / "photos" / name) for name in written}
    assert _run_cli(root, "-o", out, "--replacewith=blur") == 1  # again: existing outputs are kept
    assert before == {name: os.path.getmtime(out / "photos" / name) for name in written}

    # The serving signature's decoder: a face for every good file (a 1 px one is resized), InvalidArgumentError
    # for every undecodable or huge one, nothing else.
    refused = set()
    for name in expected:
        with open(os.path.join(root, name), "rb") as f:
            data = tf.constant(f.read())
        try:
            assert savedmodel.decode_request_image(data, 3, 32).shape == (32, 32, 3)
        except tf.errors.InvalidArgumentError:
            refused.add(name)
    assert refused == bad - {"bob/dot.png"}


def test_a_report_path_under_a_file_is_refused_before_any_work(tmp_path):
    source = _photo_file(tmp_path / "a.png")
    (tmp_path / "taken").write_text("a file")
    assert _run_cli(source, "-o", tmp_path / "out", "--replacewith=blur", "--report", tmp_path / "taken" / "r.json") == 2
    assert not os.path.exists(tmp_path / "out")


def test_the_pixel_limit_is_configurable(tmp_path, capsys):
    source = _photo_file(tmp_path / "a.png")  # 400 x 300 = 0.12 MP
    assert _run_cli(source, "-o", tmp_path / "out", "--replacewith=blur", "--max-megapixels=0.1") == 1
    assert "too large (400x300, limit 0.1 megapixels)" in capsys.readouterr().err
    assert _run_cli(source, "-o", tmp_path / "out2", "--replacewith=blur", "--max-megapixels=0.2") == 0
