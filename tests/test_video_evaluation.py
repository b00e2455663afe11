"""The video evaluation: a clip of moving photos through the video route, judged per person."""

import os

import cv2
import numpy as np

from conftest import face_photo
from ppgan_tf.evaluation import video
from ppgan_tf.evaluation.judges import Judge
from test_deidentify import StubBackend, _deidentifier


class _CentreGrey:
    """A stand-in judge that motion does not fool: the mean grey level of the face's centre."""

    threshold = 0.08

    def embed(self, faces):
        side = faces.shape[1]
        return faces[:, side // 4: 3 * side // 4, side // 4: 3 * side // 4].astype(np.float32).mean(
            axis=(1, 2, 3))[:, None] / 255.0


class _Unchanged(StubBackend):
    """A generator that gives the face back as it was: every frame leaks."""

    def generate(self, faces, noise):
        return faces


def _people(tmp_path, detector):
    paths = []
    for person in (1, 2):
        photo, _ = face_photo(220, 200, top=20, left=30, person=person)
        paths.append(str(tmp_path / f"p{person}.png"))
        cv2.imwrite(paths[-1], photo[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "empty.png"), np.full((100, 100, 3), 90, np.uint8))
    messages = []
    people = video.people_of_photos(paths + [str(tmp_path / "empty.png"), str(tmp_path / "missing.png")], detector,
                                    log=messages.append)
    assert [p.name for p in people] == ["p1", "p2"]
    assert len(messages) == 2 and "empty.png: no face found" in messages[0] and "missing.png" in messages[1]
    return people


def test_the_clip_moves_people_whose_landmarks_follow_them(tmp_path, detector):
    people = _people(tmp_path, detector)
    matrices = video.write_clip(people, str(tmp_path / "clip.avi"), frames=6)
    frames = video.read_frames(str(tmp_path / "clip.avi"))
    assert len(frames) == 6 and frames[0].shape == (video.FRAME_SIZE[1], video.FRAME_SIZE[0], 3)
    for t in (0, 5):
        found = detector.detect(frames[t])
        for i, person in enumerate(people):
            carried = video.alignment.apply_transform(matrices[t][i], person.landmarks)
            assert min(np.abs(face.landmarks - carried).max() for face in found) < 6  # pixels
    assert not np.allclose(matrices[0][0], matrices[5][0])  # it moves


def test_a_video_is_judged_per_person_and_a_method_that_leaks_is_caught(tmp_path, detector):
    people = _people(tmp_path, detector)
    judge = _CentreGrey()
    deidentifiers = {"inverted": _deidentifier(detector), "unchanged": _deidentifier(detector, _Unchanged(),
                                                                                       guard=False),
                     "blur": _deidentifier(detector, replacewith="blur")}
    out = str(tmp_path / "eval")
    report = video.evaluate_video(people, deidentifiers, [Judge("rows", judge, judge.threshold)], out, frames=8,
                                  log=lambda _: None)
    for name in ("clip.avi", "inverted.avi", "unchanged.avi", "blur.avi", "report.json", "report.md"):
        assert os.path.exists(os.path.join(out, name)), name
    for method, result in report["methods"].items():
        assert set(result["tracks"]) == {"p1", "p2"}
        for row in result["tracks"].values():
            assert row["detected_frames"] + row["remembered_frames"] + row["missed_frames"] == row["frames"] == 8
        assert len(result["track_seeds"]) == 2  # one seed per person for the whole clip
    # The unchanged faces leak in every frame; inverted ones in none.
    assert report["methods"]["unchanged"]["mean"]["rows_leak_rate"] == 1.0
    assert report["methods"]["inverted"]["mean"]["rows_leak_rate"] == 0.0
    unchanged = report["methods"]["unchanged"]["tracks"]["p1"]
    assert abs(unchanged["flicker"] - unchanged["input_flicker"]) < 1.0  # the output is the input
    assert "| unchanged |" in open(os.path.join(out, "report.md")).read()


def test_how_a_face_was_seen_follows_the_reports():
    landmarks = np.array([[50.0, 50.0], [70.0, 50.0], [60.0, 60.0], [52.0, 70.0], [68.0, 70.0]])

    class Report:
        def __init__(self, box, remembered):
            self.box, self.remembered = box, remembered

    assert video.how_seen([Report((40, 40, 40, 40), False)], landmarks) == "detected"
    assert video.how_seen([Report((200, 40, 40, 40), False), Report((40, 40, 40, 40), True)], landmarks) == "remembered"
    assert video.how_seen([Report((200, 40, 40, 40), False)], landmarks) == "missed"
    assert video.how_seen([], landmarks) == "missed"
