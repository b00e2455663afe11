"""Following faces across video frames, so each person keeps one fake identity."""

import dataclasses

import numpy as np


def iou(box_a, box_b):
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = box_a
    bx, by, bw, bh = box_b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


@dataclasses.dataclass
class Track:
    track_id: int
    seed: int
    face: object  # the last detected Face
    missed: int = 0


class FaceTracker:
    """Greedy IoU matching of each frame's faces to the tracks of earlier frames.

    A track keeps its noise seed for its whole life; a face missed for up to
    `memory` frames keeps its last box, so it stays hidden while the detector
    blinks.

    Args:
        min_iou: overlap needed to continue a track.
        memory: frames a track survives without a detection.
        seed: first noise seed; each new track takes the next.
    """

    def __init__(self, min_iou=0.3, memory=5, seed=0):
        self.min_iou = min_iou
        self.memory = memory
        self.tracks = []
        self._next_id = 0
        self._seed = seed

    def update(self, faces):
        """Matches this frame's faces; returns the tracks to process now, detected or remembered."""
        pairs = sorted(
            ((iou(t.face.box, f.box), ti, fi) for ti, t in enumerate(self.tracks) for fi, f in enumerate(faces)),
            reverse=True,
        )
        matched_tracks, matched_faces = set(), set()
        for overlap, ti, fi in pairs:
            if overlap < self.min_iou:
                break
            if ti in matched_tracks or fi in matched_faces:
                continue
            matched_tracks.add(ti)
            matched_faces.add(fi)
            self.tracks[ti].face, self.tracks[ti].missed = faces[fi], 0
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.memory]
        for fi, face in enumerate(faces):
            if fi not in matched_faces:
                self.tracks.append(Track(self._next_id, self._seed + self._next_id, face))
                self._next_id += 1
        return list(self.tracks)


def seeds_for(count, rng=None):
    """Fresh noise seeds for faces of a still photo."""
    rng = rng or np.random.default_rng()
    return [int(s) for s in rng.integers(0, 2**31 - 1, count)]
