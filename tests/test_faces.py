import numpy as np
import pytest

from conftest import face_photo
from ppgan_tf.faces import alignment, detection


def _similarity(angle_degrees, scale, shift):
    a = np.deg2rad(angle_degrees)
    rotation = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([rotation, np.array(shift, float)[:, None]])


def test_alignment_maps_the_landmarks_onto_the_template_within_1px():
    template = alignment.template_landmarks(128, 0.2)
    for angle, scale, shift in [(0, 1, (0, 0)), (17, 2.4, (300, 80)), (-35, 0.7, (40, 260))]:
        photo_landmarks = alignment.apply_transform(_similarity(angle, scale, shift), template)
        photo = np.zeros((600, 700, 3), np.uint8)
        aligned = alignment.align_face(photo, photo_landmarks, 128, 0.2)
        mapped = alignment.apply_transform(aligned.to_crop, photo_landmarks)
        assert np.abs(mapped - template).max() < 1.0
        assert aligned.crop.shape == (128, 128, 3)
        np.testing.assert_allclose(
            alignment.apply_transform(aligned.to_photo, template), photo_landmarks, atol=1e-6
        )


def test_template_is_centred_and_margin_shrinks_the_face():
    tight, wide = alignment.template_landmarks(128, 0.0), alignment.template_landmarks(128, 0.3)
    assert abs(wide[:, 0].mean() - 64) < 2
    assert np.ptp(wide[:, 0]) < np.ptp(tight[:, 0])


@pytest.mark.parametrize("margin", [0.0, 0.2, 0.4])
def test_the_face_box_holds_the_landmarks_with_room_for_brows_and_chin(margin):
    top, left, bottom, right = alignment.face_box(margin)
    landmarks = alignment.template_landmarks(1.0, margin)
    assert 0 <= top < landmarks[:, 1].min() - 0.05 and landmarks[:, 1].max() + 0.05 < bottom <= 1
    assert 0 <= left < landmarks[:, 0].min() and landmarks[:, 0].max() < right <= 1
    assert abs((left + right) / 2 - 0.5) < 0.01  # centred across, like the template


def test_the_inverse_transform_puts_a_crop_back_into_the_photo():
    rng = np.random.default_rng(0)
    photo = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    photo = np.ascontiguousarray(np.repeat(np.repeat(photo[::8, ::8], 8, 0), 8, 1))  # 8 px blocks
    template = alignment.template_landmarks(128, 0.2)
    landmarks = alignment.apply_transform(_similarity(10, 1.0, (90, 50)), template)
    aligned = alignment.align_face(photo, landmarks, 128, 0.2)
    back, coverage = alignment.warp_to_photo(aligned.crop, aligned.to_photo, photo.shape)
    assert back.shape == photo.shape and coverage.shape == photo.shape[:2]
    inside = coverage > 0.999
    inside[:, :] &= np.pad(inside, 3)[6:, 3:-3] & np.pad(inside, 3)[:-6, 3:-3]  # away from the crop edge
    assert inside.sum() > 0.8 * 128 * 128
    error = np.abs(back.astype(int) - photo.astype(int))[inside]
    assert np.median(error) <= 2 and error.mean() < 12  # resampled twice: block edges blur
    assert coverage[0, 0] == 0.0


@pytest.fixture(scope="module", params=detection.DETECTORS)
def each_detector(request, detector):
    """MTCNN (the session's) and YuNet, with the same settings."""
    if request.param == "mtcnn":
        return detector
    return detection.make_detector(request.param, detector.threshold, detector.min_face_size, detector.max_side)


def test_detector_finds_the_face_and_scales_coordinates_back(each_detector):
    photo, (left, top, width, height) = face_photo(1500, 2000, top=500, left=900, face_scale=3.0)
    faces = each_detector.detect(photo)  # 2000 px wide: detected at 640 and scaled back
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.9
    x, y, w, h = face.box
    assert left - 20 <= x and x + w <= left + width + 20 and top - 20 <= y and y + h <= top + height + 20
    eyes, mouth = face.landmarks[:2], face.landmarks[3:]
    assert eyes[:, 1].max() < mouth[:, 1].min()  # upright
    assert eyes[0, 0] < eyes[1, 0]  # image-left eye first


def test_mtcnn_made_under_a_training_runs_bfloat16_policy_still_detects():
    import keras

    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        detector = detection.FaceDetector(max_side=640)
        assert keras.mixed_precision.dtype_policy().name == "mixed_bfloat16"  # the run's policy is left as it was
        photo, _ = face_photo()
        faces = detector.detect(photo)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert len(faces) == 1 and faces[0].score > 0.9


def test_detector_finds_nothing_in_a_blank_photo(each_detector):
    assert each_detector.detect(np.full((200, 200, 3), 128, np.uint8)) == []


def test_detector_refuses_non_rgb(each_detector):
    with pytest.raises(ValueError, match="RGB"):
        each_detector.detect(np.zeros((50, 50), np.uint8))


def test_yunet_landmarks_agree_with_mtcnn_within_a_few_pixels(detector):
    photo, _ = face_photo(300, 400, person=3)
    yunet = detection.make_detector("yunet").detect(photo)[0]
    mtcnn = detector.detect(photo)[0]
    assert np.abs(yunet.landmarks - mtcnn.landmarks).max() < 8  # pixels, on a face 150 px wide
    with pytest.raises(ValueError, match="Unknown detector"):
        detection.make_detector("haar")


def _face(box, score=0.99):
    return detection.Face(box=box, landmarks=np.zeros((5, 2)), score=score)


def test_face_policies():
    big_corner, small_centre = _face((0, 0, 80, 80)), _face((90, 90, 20, 20))
    faces = [small_centre, big_corner]
    assert detection.choose_faces(faces, "largest", (200, 200)) == [big_corner]
    assert detection.choose_faces(faces, "central", (200, 200)) == [small_centre]
    assert detection.choose_faces(faces, "all", (200, 200)) == faces
    assert detection.choose_faces([], "largest", (200, 200)) == []
