"""Video de-identification judged per person: one consistent fake face, no frame that leaks the real one, no flicker.

A clip is made from still photos that move (pan, zoom, tilt) in lanes of one
frame, so where each person's face is in every frame is known exactly,
whether or not the de-identifier's detector finds it. The clip goes through
the library's video route (`files.deidentify_video`: detection, tracks with
one seed each, memory of missed faces), and every person is then aligned in
every input and output frame with the landmarks carried by the motion.

Per person and method, for each judge:
- `leak_rate`: frames whose output face the judge matches to the person's
  still photo (split by how the de-identifier saw the frame: detected,
  remembered from earlier frames, or not at all);
- `consecutive_distance`: the judge's mean distance between the output
  faces of consecutive frames, and `identity_changes`, the share of
  consecutive pairs it calls different people (the input's own values
  are the reference: a still face moving gives small distances too).
And `flicker`: the mean absolute grey-level change inside the face between
consecutive aligned output frames, beside the input's.
"""

import dataclasses
import json
import os

import cv2
import numpy as np

from ppgan_tf.data import images as face_images
from ppgan_tf.deidentify import files, media
from ppgan_tf.evaluation.report import cell
from ppgan_tf.faces import alignment, detection

FRAME_SIZE = (720, 360)


@dataclasses.dataclass
class Person:
    """One still photo in the clip: its pixels, its face's landmarks in it, and whose it is."""

    name: str
    photo: np.ndarray
    landmarks: np.ndarray


def people_of_photos(paths, detector, log=print):
    """A `Person` per photo with a face (its largest); photos without one are reported and left out."""
    people = []
    for path in paths:
        try:
            photo = face_images.decode_image(path, 3)
        except face_images.ImageError as error:
            log(f"skipped {path}: {error.problem}")
            continue
        faces = detection.choose_faces(detector.detect(photo), "largest", photo.shape)
        if not faces:
            log(f"skipped {path}: no face found")
            continue
        people.append(Person(os.path.splitext(os.path.basename(path))[0], photo, faces[0].landmarks))
    return people


def motion(frame, count, lane, lanes, photo_shape, size=FRAME_SIZE):
    """The 2x3 similarity matrix placing a photo in `lane` at `frame`: a slow pan, zoom and tilt.

    Each lane moves with its own phase, so people move differently.
    """
    width, height = size
    lane_width = width / lanes
    phase = 2 * np.pi * (frame / max(count - 1, 1)) + lane * 1.3
    scale = min(lane_width, height) / max(photo_shape[:2]) * (0.8 + 0.12 * np.sin(phase))
    angle = np.deg2rad(6.0 * np.sin(1.7 * phase))
    centre = np.array([(lane + 0.5) * lane_width + 0.08 * lane_width * np.sin(phase),
                       height / 2 + 0.06 * height * np.cos(1.3 * phase)])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    photo_centre = np.array([photo_shape[1] / 2, photo_shape[0] / 2])
    return np.hstack([rotation, (centre - rotation @ photo_centre)[:, None]])


def write_clip(people, path, frames=120, fps=25.0, size=FRAME_SIZE):
    """Writes the clip of `people` moving side by side; returns each frame's matrices (photo -> frame), per person."""
    matrices = [[motion(t, frames, lane, len(people), person.photo.shape, size) for lane, person in enumerate(people)]
                for t in range(frames)]
    writer = media.video_writer(path, fps, size)
    try:
        for t in range(frames):
            frame = np.full((size[1], size[0], 3), 110, np.uint8)
            for person, matrix in zip(people, matrices[t]):
                placed = cv2.warpAffine(person.photo, matrix, size, flags=cv2.INTER_LINEAR)
                inside = cv2.warpAffine(np.ones(person.photo.shape[:2], np.uint8), matrix, size,
                                        flags=cv2.INTER_NEAREST) > 0
                frame[inside] = placed[inside]
            writer.write(frame[:, :, ::-1])
    finally:
        writer.release()
    return matrices


def read_frames(path):
    """Every frame of a video as RGB uint8."""
    capture, _, _, _ = media.open_video(path)
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(media.rgb(frame))
    finally:
        capture.release()
    return frames


def how_seen(reports, landmarks):
    """'detected', 'remembered' or 'missed': how the de-identifier treated the face whose landmarks these are."""
    centre = landmarks.mean(axis=0)
    for report in reports:
        x, y, width, height = report.box
        if x <= centre[0] <= x + width and y <= centre[1] <= y + height:
            return "remembered" if report.remembered else "detected"
    return "missed"


def aligned_track(frames, person, matrices, size=128, margin=0.2):
    """The person's face aligned in every frame, with the landmarks the motion carried there: uint8 `[T, size, size, 3]`."""
    return np.stack([
        alignment.align_face(frame, alignment.apply_transform(matrix, person.landmarks), size, margin).crop
        for frame, matrix in zip(frames, matrices)
    ])


def face_flicker(faces, margin=0.2):
    """Mean absolute grey-level change inside the face (`alignment.face_box`) between consecutive frames."""
    grey = faces.astype(np.float32).mean(axis=-1)
    side = grey.shape[1]
    top, left, bottom, right = (round(v * side) for v in alignment.face_box(margin))
    inside = grey[:, top:bottom, left:right]
    return float(np.mean(np.abs(np.diff(inside, axis=0)))) if len(inside) > 1 else 0.0


def consecutive(embeddings, threshold):
    """(mean distance between consecutive frames' embeddings, share of those pairs at or beyond the threshold)."""
    if len(embeddings) < 2:
        return None, None
    steps = np.linalg.norm(np.diff(np.asarray(embeddings, np.float64), axis=0), axis=1)
    return float(np.mean(steps)), float(np.mean(steps >= threshold))


def track_metrics(person, inputs, outputs, seen, judge_list, reference_embeddings, input_embeddings):
    """Every metric of one person's track under one method (see the module's docstring).

    `input_embeddings`: {judge name: {person name: the judge's embeddings of the input track}}, made once for
    every method.
    """
    seen = np.asarray(seen)
    row = {"frames": len(seen), **{f"{kind}_frames": int(np.sum(seen == kind))
                                   for kind in ("detected", "remembered", "missed")},
           "flicker": face_flicker(outputs), "input_flicker": face_flicker(inputs)}
    for judge in judge_list:
        reference = reference_embeddings[judge.name][person.name]
        embedded = judge.recogniser.embed(outputs)
        leaks = np.linalg.norm(embedded - reference, axis=1) < judge.threshold
        row[f"{judge.name}_leak_rate"] = float(np.mean(leaks))
        for kind in ("detected", "remembered", "missed"):
            chosen = seen == kind
            row[f"{judge.name}_leak_rate_{kind}"] = float(np.mean(leaks[chosen])) if chosen.any() else None
        row[f"{judge.name}_consecutive_distance"], row[f"{judge.name}_identity_changes"] = consecutive(
            embedded, judge.threshold)
        row[f"{judge.name}_input_consecutive_distance"], _ = consecutive(input_embeddings[judge.name][person.name],
                                                                         judge.threshold)
    return row


def evaluate_video(people, deidentifiers, judge_list, out, frames=120, fps=25.0, seed=0, frame_memory=5,
                   refused_judges=None, log=print):
    """Makes the clip, runs each method's de-identifier over it, judges every person's track; writes and returns the report.

    Args:
        people: `Person`s (at least two for a meaningful clip), side by side.
        deidentifiers: {method name: `Deidentifier`}, e.g. ppgan, blur, mosaic.
        judge_list: `judges.Judge`s, none of which the model trained against.
        out: folder for clip.avi, <method>.avi, report.json and report.md.
        refused_judges: {judge name: why}, named in the report.
    """
    os.makedirs(out, exist_ok=True)
    clip = os.path.join(out, "clip.avi")
    matrices = write_clip(people, clip, frames, fps)
    input_frames = read_frames(clip)
    inputs_by_person = {person.name: aligned_track(input_frames, person, [m[i] for m in matrices])
                        for i, person in enumerate(people)}
    references = {judge.name: {person.name: judge.recogniser.embed(
        alignment.align_face(person.photo, person.landmarks, 128, 0.2).crop[None])[0] for person in people}
        for judge in judge_list}
    input_embeddings = {judge.name: {name: judge.recogniser.embed(faces) for name, faces in inputs_by_person.items()}
                        for judge in judge_list}
    methods = {}
    for method, deidentifier in deidentifiers.items():
        target = os.path.join(out, f"{method}.avi")
        reports = {}
        summary = files.deidentify_video(deidentifier, clip, target, seed=seed, frame_memory=frame_memory,
                                         on_frame=lambda index, face_reports: reports.__setitem__(index, face_reports))
        output_frames = read_frames(target)
        tracks = {}
        for i, person in enumerate(people):
            person_matrices = [m[i] for m in matrices]
            seen = [how_seen(reports.get(t, []), alignment.apply_transform(person_matrices[t], person.landmarks))
                    for t in range(len(output_frames))]
            outputs = aligned_track(output_frames, person, person_matrices)
            tracks[person.name] = track_metrics(person, inputs_by_person[person.name], outputs, seen, judge_list,
                                                references, input_embeddings)
        mean = mean_row(tracks.values())
        mean["fallback_share"] = summary["fallbacks"] / summary["faces"] if summary["faces"] else None
        methods[method] = {"tracks": tracks, "track_seeds": summary["track_seeds"], "faces": summary["faces"],
                           "fallbacks": summary["fallbacks"], "mean": mean}
        log(f"{method}: " + ", ".join(f"{k} {v:.3f}" for k, v in methods[method]["mean"].items()
                                      if isinstance(v, float)))
    report = {"frames": frames, "fps": fps, "size": list(FRAME_SIZE), "people": [p.name for p in people],
              "frame_memory": frame_memory, "judges": {judge.name: {"threshold": judge.threshold}
                                                       for judge in judge_list},
              "refused_judges": refused_judges or {}, "methods": methods}
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown_table(report))
    return report


def mean_row(rows):
    """The mean of each metric over tracks (those a track could not measure left out); frame counts summed."""
    rows = list(rows)
    means = {}
    for key in rows[0]:
        values = [row[key] for row in rows if row[key] is not None]
        if key.endswith("frames"):
            means[key] = int(np.sum(values))
        else:
            means[key] = float(np.mean(values)) if values else None
    return means


def markdown_table(report):
    """Per method, the mean over people; then one line per person and method."""
    judges = list(report["judges"])
    columns = ([(f"{j} leak", f"{j}_leak_rate") for j in judges]
               + [(f"{j} leak when remembered / missed", (f"{j}_leak_rate_remembered", f"{j}_leak_rate_missed"))
                  for j in judges]
               + [(f"{j} consecutive distance (input)", (f"{j}_consecutive_distance",
                                                        f"{j}_input_consecutive_distance")) for j in judges]
               + [(f"{j} identity changes", f"{j}_identity_changes") for j in judges]
               + [("flicker (input)", ("flicker", "input_flicker")),
                  ("frames detected / remembered / missed", ("detected_frames", "remembered_frames",
                                                             "missed_frames"))])

    def cells(row):
        return [" / ".join(cell(row[k]) for k in key) if isinstance(key, tuple) else cell(row[key])
                for _, key in columns]

    lines = [f"A {report['frames']}-frame clip of {len(report['people'])} people moving side by side "
             f"({', '.join(report['people'])}), through the video route (tracks, {report['frame_memory']} frames of "
             "memory); leak: frames whose output face the judge matches to the person's photo.", "",
             "| method | " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * (1 + len(columns))]
    lines[-2:] = [lines[-2].replace(" |", " | faces fallen back |", 1), lines[-1] + "---|"]
    lines += [f"| {method} | {cell(result['mean']['fallback_share'])} | " + " | ".join(cells(result["mean"])) + " |"
              for method, result in report["methods"].items()]
    lines += ["", "| method | person | " + " | ".join(title for title, _ in columns) + " |",
              "|" + "---|" * (2 + len(columns))]
    lines += [f"| {method} | {person} | " + " | ".join(cells(row)) + " |"
              for method, result in report["methods"].items() for person, row in result["tracks"].items()]
    return "\n".join(lines) + "\n"
