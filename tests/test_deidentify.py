"""ppgan-deidentify on vendored photos and generated frames: faces replaced, nothing else changed, failing closed."""

import io
import json
import os

import cv2
import numpy as np
import PIL.Image
import PIL.ImageCms
import pytest

from conftest import face_photo
from ppgan_tf.deidentify import cli, files, replace, tracking
from ppgan_tf.deidentify.backends import Backend
from ppgan_tf.deidentify.deidentifier import Deidentifier


class StubBackend(Backend):
    """A generator that inverts faces; a verificator whose verdict the test decides."""

    image_size, channels, noise_size, threshold, name = 64, 1, 8, 0.5, "stub"

    def __init__(self, matching_tries=0, fail=False):
        self.matching_tries = matching_tries  # the first N generations still "match" the original
        self.fail = fail
        self.generated = 0

    def generate(self, faces, noise):
        if self.fail:
            raise RuntimeError("model exploded")
        self.generated += 1
        return 255 - faces

    def embed(self, faces):
        if faces.mean() > 127 and self.generated > self.matching_tries:  # a fresh fake: far away
            return np.ones((len(faces), 4), np.float32)
        return np.zeros((len(faces), 4), np.float32)


def _deidentifier(detector, backend=None, **kwargs):
    kwargs.setdefault("guard_with", "verificator")  # the stub's verificator decides the guard's verdict
    return Deidentifier(backend=backend or StubBackend(), detector=detector, **kwargs)


def _dark_face_photo():
    photo, box = face_photo(300, 400)
    return photo, box


def test_pixels_change_inside_the_face_and_nowhere_outside(detector):
    photo, (left, top, width, height) = _dark_face_photo()
    result, faces = _deidentifier(detector).process(photo)
    assert len(faces) == 1 and faces[0].mode == "ppgan" and faces[0].guard_passed
    x, y, w, h = (int(v) for v in faces[0].box)
    centre = (slice(y + h // 3, y + 2 * h // 3), slice(x + w // 3, x + 2 * w // 3))
    assert np.abs(result[centre].astype(int) - photo[centre].astype(int)).mean() > 30
    outside = np.ones(photo.shape[:2], bool)
    x0, y0, x1, y1 = replace.expanded_box(faces[0].box, photo.shape, grow=0.5)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(result[outside], photo[outside])


def test_a_generator_failure_leaves_no_original_face_pixel(detector):
    photo, _ = _dark_face_photo()
    result, faces = _deidentifier(detector, StubBackend(fail=True)).process(photo)
    assert faces[0].mode == "solid" and "model exploded" in faces[0].fallback
    x0, y0, x1, y1 = replace.expanded_box(faces[0].box, photo.shape)
    assert np.all(result[y0:y1, x0:x1] == 0)


def test_the_guard_resamples_then_falls_back_to_blur(detector):
    photo, _ = _dark_face_photo()
    _, faces = _deidentifier(detector, StubBackend(matching_tries=2), guard_tries=3).process(photo)
    assert faces[0].guard_passed and faces[0].guard_tries == 3
    _, faces = _deidentifier(detector, StubBackend(matching_tries=5), guard_tries=3).process(photo)
    assert not faces[0].guard_passed and faces[0].fallback == "guard" and faces[0].mode == "blur"


def test_a_guard_start_generates_as_deep_as_before_and_keeps_a_fallen_back_face_hidden(detector):
    from ppgan_tf.deidentify.deidentifier import GuardDepth

    photo, _ = _dark_face_photo()
    faces = detector.detect(photo)
    _, reports = _deidentifier(detector, StubBackend()).process(photo, faces, seeds=[1])
    assert reports[0].guard_tries == 1 and GuardDepth.of(reports[0]) == GuardDepth()
    # Started at three tries: the first two pass unjudged; the third (again a fresh inverted face) passes.
    _, reports = _deidentifier(detector, StubBackend(), guard_tries=5).process(
        photo, faces, seeds=[1], guard_starts=[GuardDepth(tries=3)])
    assert reports[0].guard_passed and reports[0].guard_tries == 3
    # Started at a softening: every generation unjudged, then the blur of that sigma judged first.
    _, reports = _deidentifier(detector, StubBackend(), guard_tries=3, guard_soften=(1.0, 2.0)).process(
        photo, faces, seeds=[1], guard_starts=[GuardDepth(softened=2.0, tries=3)])
    assert reports[0].guard_passed and reports[0].guard_softened == 2.0
    backend = StubBackend()
    _, reports = _deidentifier(detector, backend).process(photo, faces, seeds=[1],
                                                          guard_starts=[GuardDepth(fell_back=True)])
    assert reports[0].mode == "blur" and reports[0].fallback == "guard" and backend.generated == 0
    assert GuardDepth(fell_back=True) > GuardDepth(softened=4.0, tries=5) > GuardDepth(tries=5) > GuardDepth()


def test_a_video_track_never_goes_back_to_a_shallower_guard_depth(detector, tmp_path):
    source, target = str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4")
    _write_video(source, frames=6)
    tries = []
    # The first frame's face needs three generations; later ones would pass at the first (the stub's count has grown).
    files.deidentify_video(_deidentifier(detector, StubBackend(matching_tries=1), guard_tries=5), source, target,
                           seed=3, on_frame=lambda _, reports: tries.extend(r.guard_tries for r in reports))
    assert len(tries) == 6 and set(tries) == {3}


class _ShiftingBackend(StubBackend):
    """Each generation brightens its input by 40 levels; the guard passes a face 100 levels from the original."""

    def __init__(self):
        super().__init__()
        self.inputs = []

    def generate(self, faces, noise):
        self.inputs.append(faces.copy())
        return np.clip(faces.astype(int) + 40, 0, 255).astype(np.uint8)

    def embed(self, faces):
        return np.full((len(faces), 1), faces.mean() / 200.0, np.float32)


@pytest.mark.parametrize("retry, passes", [("chain", True), ("resample", False)])
def test_a_chained_retry_generates_from_the_last_generated_face(detector, retry, passes):
    photo, _ = _dark_face_photo()
    backend = _ShiftingBackend()
    _, faces = _deidentifier(detector, backend, guard_tries=3, guard_margin=1.0, guard_retry=retry).process(photo)
    first = backend.inputs[0]
    expected_second = np.clip(first.astype(int) + 40, 0, 255) if retry == "chain" else first
    np.testing.assert_array_equal(backend.inputs[1], expected_second)
    assert faces[0].guard_passed == passes and faces[0].guard_tries == 3  # chain: +120 levels at the third
    assert faces[0].mode == ("ppgan" if passes else "blur")


@pytest.mark.parametrize("margin, passes", [(1.0, True), (1.5, False)])
def test_the_guard_margin_asks_for_more_than_the_recognisers_threshold(detector, margin, passes):
    photo, _ = _dark_face_photo()  # three chained passes: distance 0.6 against the stub's threshold 0.5
    _, faces = _deidentifier(detector, _ShiftingBackend(), guard_tries=3, guard_margin=margin).process(photo)
    assert faces[0].guard_passed == passes


class _CopyingBackend(StubBackend):
    """A generator that returns the face unchanged: no generation can pass the guard."""

    def generate(self, faces, noise):
        return faces.copy()


class _DetailGuard:
    """Places a face as far from the original as the share of its fine detail it lost (the first face embedded)."""

    threshold = 0.85  # a grey 64 px test face loses 0.79 of it to a sigma-2 blur, 0.90 to sigma 4

    def __init__(self):
        self.original_detail = None

    def embed(self, faces):
        face = faces[0].astype(float)
        detail = np.abs(face - cv2.GaussianBlur(face, (0, 0), 1.0).reshape(face.shape)).mean()
        self.original_detail = self.original_detail or detail
        return np.array([[1.0 - detail / self.original_detail]], np.float32)


@pytest.mark.parametrize("soften, mode, softened",
                         [((2.0, 4.0), "ppgan", 4.0), ((2.0,), "blur", 0.0), ((), "blur", 0.0)])
def test_the_guard_softens_the_last_generated_face_before_falling_back(detector, soften, mode, softened):
    photo, _ = _dark_face_photo()
    result, faces = _deidentifier(detector, _CopyingBackend(), guard_with=_DetailGuard(), guard_tries=2,
                                  guard_margin=1.0, guard_soften=soften).process(photo)
    assert faces[0].mode == mode and faces[0].guard_softened == softened and faces[0].guard_tries == 2
    assert faces[0].guard_passed == (mode == "ppgan") and faces[0].fallback == ("" if mode == "ppgan" else "guard")
    x, y, w, h = (int(v) for v in faces[0].box)
    centre = (slice(y + h // 3, y + 2 * h // 3), slice(x + w // 3, x + 2 * w // 3))
    assert not np.array_equal(result[centre], photo[centre])  # softened or blurred, never the original face


def test_a_non_positive_soften_sigma_is_refused(detector):
    with pytest.raises(ValueError, match="guard_soften"):
        _deidentifier(detector, guard_soften=(2.0, 0.0))


def test_facenet_guards_by_default_and_sface_on_request_and_an_unknown_guard_is_refused(detector):
    guard = Deidentifier(backend=StubBackend(), detector=detector).guard
    assert guard.name == "facenet" and guard.threshold == pytest.approx(1.074)
    assert guard.embed(np.zeros([2, 64, 64, 3], np.uint8)).shape == (2, 512)
    assert _deidentifier(detector, guard_with="sface").guard.name == "sface"
    with pytest.raises(ValueError, match="guard_with"):
        _deidentifier(detector, guard_with="arcface")


def test_an_unknown_guard_retry_is_refused(detector):
    with pytest.raises(ValueError, match="guard_retry"):
        _deidentifier(detector, guard_retry="twice")


@pytest.mark.parametrize("mode", ["blur", "mosaic", "solid"])
def test_classic_modes_change_the_face(detector, mode):
    photo, _ = _dark_face_photo()
    result, faces = Deidentifier(replacewith=mode, detector=detector).process(photo)
    x0, y0, x1, y1 = replace.expanded_box(faces[0].box, photo.shape)
    assert np.abs(result[y0:y1, x0:x1].astype(int) - photo[y0:y1, x0:x1].astype(int)).mean() > 3


def test_a_track_keeps_one_seed_and_survives_missed_frames():
    from ppgan_tf.faces.detection import Face

    def face(x):
        return Face(box=(x, 50, 60, 60), landmarks=np.zeros((5, 2)), score=0.99)

    tracker = tracking.FaceTracker(memory=2, seed=100)
    first = tracker.update([face(10)])
    assert len(first) == 1
    seed = first[0].seed
    for x in (14, 18, 22):
        assert [t.seed for t in tracker.update([face(x)])] == [seed]
    remembered = tracker.update([])  # the detector blinks: the face keeps its last box
    assert len(remembered) == 1 and remembered[0].face.box[0] == 22 and remembered[0].missed == 1
    tracker.update([])
    assert tracker.update([]) == []  # forgotten after `memory` frames
    assert tracker.update([face(300)])[0].seed != seed


def _write_video(path, frames=12, fps=10.0):
    photo, _ = face_photo(240, 320, top=40, left=60)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    for i in range(frames):
        writer.write(np.roll(photo, 3 * i, axis=1)[:, :, ::-1])  # the face drifts right
    writer.release()


def test_a_video_keeps_frame_count_size_and_fps_and_one_seed_per_track(detector, tmp_path):
    source, target = str(tmp_path / "in.mp4"), str(tmp_path / "out" / "in.mp4")
    _write_video(source)
    result = files.deidentify_video(_deidentifier(detector), source, target, seed=7, frame_memory=3)
    capture = cv2.VideoCapture(target)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12 == result["frames"]
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 240)
    assert result["track_seeds"] == {"0": 7} and result["faces"] >= 12


def _jpeg_with_metadata(photo):
    exif = PIL.Image.Exif()
    exif[0x010F] = "TestCamera"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS latitude
    buffer = io.BytesIO()
    icc = PIL.ImageCms.ImageCmsProfile(PIL.ImageCms.createProfile("sRGB")).tobytes()
    PIL.Image.fromarray(photo).save(buffer, "JPEG", exif=exif.tobytes(), icc_profile=icc)
    return buffer.getvalue()


def _exif(path):
    with PIL.Image.open(path) as image:
        return image.getexif()


def _run_cli(*argv):
    return cli.main([str(a) for a in argv])


def test_metadata_is_stripped_and_location_always_goes(tmp_path):
    photo, _ = face_photo()
    source = tmp_path / "in" / "photo.jpg"
    source.parent.mkdir()
    source.write_bytes(_jpeg_with_metadata(photo))
    assert 0x8825 in _exif(source) and _exif(source)[0x010F] == "TestCamera"
    assert _run_cli(source, "-o", tmp_path / "plain", "--replacewith=blur") == 0
    assert len(_exif(tmp_path / "plain" / "photo.jpg")) == 0
    assert _run_cli(source, "-o", tmp_path / "kept", "--replacewith=blur", "--keep-metadata") == 0
    kept = _exif(tmp_path / "kept" / "photo.jpg")
    assert kept[0x010F] == "TestCamera" and 0x8825 not in kept
    with PIL.Image.open(tmp_path / "kept" / "photo.jpg") as kept_image, PIL.Image.open(tmp_path / "plain" / "photo.jpg") as plain:
        assert kept_image.info.get("icc_profile") and not plain.info.get("icc_profile")


def test_yunet_finds_and_hides_the_face_and_leaves_the_rest(tmp_path):
    photo, (left, top, width, height) = face_photo()
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo[:, :, ::-1])
    assert _run_cli(source, "-o", tmp_path / "out", "--replacewith=blur", "--detector=yunet") == 0
    result = cv2.imread(str(tmp_path / "out" / "photo.png"))[:, :, ::-1]
    changed = np.any(result != photo, axis=-1)
    assert changed[top + height // 3: top + 2 * height // 3, left + width // 3: left + 2 * width // 3].mean() > 0.9
    assert not changed[:, : left - 40].any() and not changed[:, left + width + 40:].any()
    report = json.load(open(tmp_path / "out" / "deidentify_report.json"))
    assert report["files"][str(source)]["faces"] == 1


def test_the_wide_blur_matches_the_full_size_double_gaussian():
    photo, (left, top, width, height) = face_photo(600, 600, top=100, left=150, face_scale=2.5)
    region = photo[top:top + height, left:left + width].copy()
    kernel = (max(width, height) // 3) | 1
    full = cv2.GaussianBlur(cv2.GaussianBlur(region, (kernel, kernel), 0), (kernel, kernel), 0)
    fast = replace.wide_blur(region, kernel)
    assert fast.shape == region.shape and fast.dtype == np.uint8
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 4  # grey levels
    assert np.abs(fast.astype(int) - region.astype(int)).mean() > 10  # and it does blur
    small = region[:20, :20].copy()  # a kernel below the working size is applied as it is
    np.testing.assert_array_equal(replace.wide_blur(small, 7), cv2.GaussianBlur(cv2.GaussianBlur(small, (7, 7), 0), (7, 7), 0))


def test_a_photos_time_is_split_by_stage(detector, tmp_path):
    photo, _ = face_photo()
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo[:, :, ::-1])
    deidentifier = _deidentifier(detector)
    files.deidentify_photo(deidentifier, str(source), str(tmp_path / "out.png"), seed=1)
    for stage in ("decode", "detection", "alignment", "generation", "guard", "blend", "encode"):
        assert deidentifier.timings[stage] > 0, stage
    assert "classic" not in deidentifier.timings  # the stub's face passed the guard: nothing fell back


def test_bad_inputs_get_their_message_and_the_batch_finishes(tmp_path, capsys):
    folder = tmp_path / "batch"
    folder.mkdir()
    photo, _ = face_photo()
    cv2.imwrite(str(folder / "good.png"), photo[:, :, ::-1])
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a real video")
    frames = [PIL.Image.fromarray(photo), PIL.Image.fromarray(255 - photo)]
    frames[0].save(folder / "moving.gif", save_all=True, append_images=frames[1:])
    status = _run_cli(folder, "-o", tmp_path / "out", "--replacewith=blur")
    assert status == 1
    err = capsys.readouterr().err
    with open(tmp_path / "out" / "deidentify_report.json") as f:
        report = json.load(f)
    failed = report["failed"]
    for name, words in [("corrupt.jpg", "not a decodable image"), ("empty.png", "empty file"),
                        ("notes.txt", "unsupported file type"), ("broken.mp4", "cannot open as a video"),
                        ("moving.gif", "animated image")]:
        key = next(k for k in failed if k.endswith(name))
        assert words in failed[key], (name, failed[key])
        assert f"{key}: " in err
    assert os.path.exists(tmp_path / "out" / "batch" / "good.png")
    assert not any((tmp_path / "out" / "batch" / n).exists() for n in ("corrupt.jpg", "empty.png", "broken.mp4"))
    assert report["summary"]["files_done"] == 1 and report["summary"]["faces"] == 1


def test_existing_outputs_are_not_overwritten(tmp_path):
    photo, _ = face_photo()
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo[:, :, ::-1])
    target = tmp_path / "out" / "photo.png"
    target.parent.mkdir()
    target.write_bytes(b"precious")
    assert _run_cli(source, "-o", tmp_path / "out", "--replacewith=solid") == 0
    assert target.read_bytes() == b"precious"
    assert _run_cli(source, "-o", tmp_path / "out", "--replacewith=solid", "--overwrite") == 0
    assert target.read_bytes() != b"precious"


def test_dry_run_writes_nothing(tmp_path, capsys):
    photo, _ = face_photo()
    source = tmp_path / "photo.png"
    cv2.imwrite(str(source), photo[:, :, ::-1])
    assert _run_cli(source, "-o", tmp_path / "out", "--dry-run") == 0
    assert "photo.png ->" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_aligned_crops_keep_their_size_and_name(tmp_path):
    folder = tmp_path / "crops"
    folder.mkdir()
    photo, (left, top, width, height) = face_photo()
    cv2.imwrite(str(folder / "a.png"), photo[top:top + height, left:left + width, ::-1])
    assert _run_cli(folder, "-o", tmp_path / "out", "--aligned", "--replacewith=mosaic") == 0
    out = cv2.imread(str(tmp_path / "out" / "crops" / "a.png"))
    assert out.shape == (height, width, 3)


def test_keep_audio_copies_the_sound(detector, tmp_path):
    import subprocess

    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    silent, source = str(tmp_path / "silent.mp4"), str(tmp_path / "talk.mp4")
    _write_video(silent, frames=10)
    subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-i", silent, "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-c:v", "copy", "-c:a", "aac", "-shortest", source], check=True)
    target = str(tmp_path / "out" / "talk.mp4")
    files.deidentify_video(_deidentifier(detector), source, target, seed=1, keep_audio=True)
    probe = subprocess.run([ffmpeg, "-i", target], capture_output=True, text=True).stderr
    assert "Audio:" in probe and "Video:" in probe


def test_photos_from_a_real_tiny_model_and_its_exports(detector, tiny_run, tiny_export):
    """The whole path with trained networks: work directory, SavedModel, TFLite and ONNX backends."""
    from ppgan_tf.deidentify.backends import load_backend

    keras_backend = load_backend(tiny_run[1])  # not exported: its Keras generator
    assert keras_backend.name.startswith("keras:")
    workdir = tiny_export[0]
    photo, _ = face_photo()
    for path in (workdir, os.path.join(workdir, "export", "tflite", "ppgan_float32.tflite"),
                 os.path.join(workdir, "export", "onnx", "ppgan.onnx")):
        backend = load_backend(path)
        assert backend.image_size == 32 and backend.has_verificator
        result, faces = Deidentifier(backend=backend, detector=detector, guard_tries=2).process(photo, seeds=[3])
        assert len(faces) == 1 and faces[0].mode in ("ppgan", "blur") and faces[0].guard_tries >= 1
        assert not np.array_equal(result, photo)


class _FaceSwapBackend(StubBackend):
    """Returns the face it is given (no privacy at all) or another ORL person's face, aligned the same way."""

    image_size, channels = 128, 3

    def __init__(self, replacement=None):
        super().__init__()
        self.replacement = replacement

    def generate(self, faces, noise):
        return faces.copy() if self.replacement is None else self.replacement[None].copy()


@pytest.mark.parametrize("guard_with", ["facenet", "sface"])
def test_the_guards_reject_a_copy_of_the_face_and_pass_another_person(detector, guard_with):
    from ppgan_tf.faces import alignment

    photo, _ = face_photo(person=1)
    other, _ = face_photo(person=3)  # 1.17x SFace's and 1.19x FaceNet's threshold from person 1
    other_face = detector.detect(other)[0]
    other_crop = alignment.align_face(other, other_face.landmarks, 128, 0.2).crop
    # Without softening: FaceNet is fooled by a blur of this synthetic face (the model card's limits say so).
    _, faces = Deidentifier(backend=_FaceSwapBackend(), detector=detector, guard_with=guard_with, guard_tries=2,
                            guard_soften=()).process(photo)
    assert faces[0].guard_tries == 2 and not faces[0].guard_passed
    assert faces[0].fallback == "guard" and faces[0].mode == "blur"
    _, faces = Deidentifier(backend=_FaceSwapBackend(other_crop), detector=detector,
                            guard_with=guard_with).process(photo)
    assert faces[0].guard_passed and faces[0].guard_tries == 1 and faces[0].mode == "ppgan"


def test_a_seed_list_shorter_than_the_faces_is_refused_before_any_face_is_touched(detector):
    photo, _ = _dark_face_photo()
    faces = detector.detect(photo)
    with pytest.raises(ValueError, match="0 seeds for 1 faces"):
        _deidentifier(detector).process(photo, faces, seeds=[])


class _TintingBackend(StubBackend):
    """A colour stub whose faces are the inputs, brighter and tinted red."""

    channels, luminance_only = 3, True

    def generate(self, faces, noise):
        self.generated += 1
        return np.clip(faces.astype(int) + [90, 20, 20], 0, 255).astype(np.uint8)


def test_a_luminance_only_model_keeps_the_photos_colours_and_the_guard_judges_what_is_pasted(detector):
    import cv2

    photo, _ = _dark_face_photo()
    tinted = photo.copy()
    tinted[:, :, 1:] = (tinted[:, :, 1:] * 0.8).astype(np.uint8)  # a photo with colour to keep
    backend = _TintingBackend()
    result, faces = _deidentifier(detector, backend).process(tinted, seeds=[1])
    assert faces[0].mode == "ppgan"
    changed = np.any(result != tinted, axis=-1)
    before, after = (cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(int)[changed] for image in (tinted, result))
    assert (after[:, 0] - before[:, 0]).mean() > 10  # brighter: the luminance is the model's
    assert np.abs(after[:, 1:] - before[:, 1:]).mean() < 2  # its red tint is not pasted: the colours are the photo's

