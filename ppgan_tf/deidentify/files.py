"""De-identifying files: a photo, or a video or webcam with its faces tracked; each returns its report.

The library's whole-file behaviour (seed policy, tracks, atomic writes); the
`ppgan-deidentify` command line only plans the jobs, calls these and reports.
"""

import collections
import dataclasses
import os

import tqdm

from ppgan_tf.deidentify import media, tracking
from ppgan_tf.deidentify.deidentifier import GuardDepth


def photo_seeds(seed, count):
    """The noise seeds of a photo's `count` faces: `seed`, `seed + 1`, ...; None (fresh random ones) without a seed."""
    return None if seed is None else [seed + i for i in range(count)]


def deidentify_photo(deidentifier, source, target, seed=None, aligned=False, max_pixels=200_000_000,
                     keep_metadata=False):
    """Writes `source` (a photo file) de-identified to `target`, atomically; returns its report.

    Args:
        deidentifier: a `Deidentifier`.
        seed: the first face's noise seed (face i gets `seed + i`); None: fresh random seeds.
        aligned: `source` is an aligned face crop: no detection.
        max_pixels: larger photos are refused (`media.MediaError`) before decoding.
        keep_metadata: keep the metadata, except the location.

    Example:
    >>> deidentify_photo(Deidentifier(replacewith="blur"), "in.jpg", "out/in.jpg", seed=7)["faces"]
    """
    with deidentifier.timed("decode"):
        photo, metadata = media.read_photo(source, max_pixels)
    if aligned:
        result, face = deidentifier.process_aligned(photo, seed)
        faces = [face]
    else:
        detected = deidentifier.detect(photo)
        result, faces = deidentifier.process(photo, detected, photo_seeds(seed, len(detected)))
    with deidentifier.timed("encode"):
        data = media.encode_photo(result, os.path.splitext(target)[1], metadata if keep_metadata else None)
        media.write_atomically(target, data)
    return {**face_counts(faces), "face_reports": [dataclasses.asdict(f) for f in faces]}


def face_counts(reports):
    return {
        "faces": len(reports),
        "guard_first_try": sum(1 for f in reports if f.guard_passed and f.guard_tries == 1),
        "guard_softened": sum(1 for f in reports if f.guard_softened),
        "fallbacks": sum(1 for f in reports if f.fallback),
    }


def deidentify_video(deidentifier, source, target, seed=None, webcam=False, frame_memory=5, keep_audio=False,
                     progress=False, on_frame=None):
    """Writes `source` (a video file, or a webcam index) de-identified to `target`; returns its report.

    Faces are tracked: each track keeps one seed (one new face) for its whole
    life and starts each frame's guard at the deepest depth its face needed
    so far (`GuardDepth`: the face does not flicker between depths, and a
    track that fell back stays hidden), and a face missed for up to
    `frame_memory` frames stays hidden at its last box. The video is written
    beside `target` and moved into place only when complete.

    Args:
        deidentifier: a `Deidentifier`.
        seed: the first track's seed (track i gets `seed + i`); None: a random start.
        webcam: `source` is a camera index (shown live when a display is available).
        keep_audio: copy the audio track (ffmpeg from imageio-ffmpeg).
        progress: show a progress bar.
        on_frame: called with (frame index, that frame's `FaceReport`s) after each frame.

    Example:
    >>> deidentify_video(Deidentifier(), "clip.mp4", "out/clip.mp4", seed=1)["track_seeds"]
    """
    capture, fps, size, count = media.open_video(source)
    tracker = tracking.FaceTracker(memory=frame_memory, seed=seed if seed is not None else tracking.seeds_for(1)[0])
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    temporary = media.temporary_beside(target, suffix=".mp4" if webcam else os.path.splitext(target)[1])
    frames, counts, track_seeds, guard_depths = 0, face_counts([]), {}, collections.defaultdict(GuardDepth)
    show = webcam and bool(os.environ.get("DISPLAY"))
    try:
        writer = media.video_writer(temporary, fps, size)
        try:
            bar = tqdm.tqdm(total=count or None, desc=os.path.basename(str(source)), unit="frame",
                            leave=False, disable=not progress)
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                photo = media.rgb(frame)
                detected = deidentifier.detect(photo)
                tracks = tracker.update(detected)
                result, reports = deidentifier.process(
                    photo, [t.face for t in tracks], [t.seed for t in tracks], [t.track_id for t in tracks],
                    [t.missed > 0 for t in tracks], [guard_depths[t.track_id] for t in tracks],
                )
                for track, report in zip(tracks, reports):
                    guard_depths[track.track_id] = max(guard_depths[track.track_id], GuardDepth.of(report))
                writer.write(result[:, :, ::-1])
                if on_frame is not None:
                    on_frame(frames, reports)
                frames += 1
                for name, value in face_counts(reports).items():
                    counts[name] += value
                for track in tracks:
                    track_seeds.setdefault(track.track_id, track.seed)
                bar.update(1)
                if show:
                    show = _show(result)
            bar.close()
        finally:
            writer.release()
            capture.release()
        if frames == 0:
            raise media.MediaError(f"{source}: no frame could be read")
        # A container's frame count can be one off; fewer frames than that means a truncated or corrupt file.
        if not webcam and count > 0 and frames < count - 1:
            raise media.MediaError(f"{source}: truncated or corrupt, {frames} of its {count} frames could be read")
        if keep_audio and not webcam:
            media.add_audio(temporary, source, target)
        else:
            media.move_into_place(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return {**counts, "frames": frames, "fps": fps, "size": list(size),
            "track_seeds": {str(k): v for k, v in track_seeds.items()}}


def _show(frame):
    """Shows a webcam frame; False once the window is closed with q or cannot be shown (headless OpenCV)."""
    import cv2

    try:
        cv2.imshow("ppgan-deidentify (q to stop)", frame[:, :, ::-1])
        return (cv2.waitKey(1) & 0xFF) != ord("q")
    except cv2.error:
        return False
