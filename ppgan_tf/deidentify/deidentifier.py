"""De-identifying every face of an image: detect, align, generate (guarded), warp back, blend; failing closed."""

import collections
import contextlib
import dataclasses
import time

import cv2
import numpy as np

from ppgan_tf.deidentify import replace, tracking
from ppgan_tf.faces import alignment
from ppgan_tf.seeds import retry_seed

MODES = ("ppgan", "blur", "mosaic", "solid")
GUARD_RETRIES = ("chain", "resample")
# The guard's defaults, chosen on 200 held-out LFW and UTKFace photos each (README: the pretrained model): FaceNet,
# which the shipped model never trained against, at 1.15x its threshold met LFW's privacy and detection targets where
# 1.1x left dlib's rank-1 at 0.065 and 1.2x blurred more faces; chained tries blurred fewer faces than resampled ones.
GUARD_WITH, GUARD_TRIES, GUARD_MARGIN, GUARD_RETRY = "facenet", 5, 1.15, "chain"
# Gaussian sigmas (pixels of the model's face) tried on the last generated face, each judged by the guard, before the
# fallback: a face blurred this little is still found by detectors, where the fallback's wide blur hides the face.
GUARD_SOFTEN = (2.0, 4.0)


@dataclasses.dataclass
class FaceReport:
    """What happened to one face."""

    box: list
    score: float
    mode: str  # what replaced the face: ppgan, blur, mosaic or solid
    seed: int = -1
    track: int = -1
    guard_tries: int = 0  # generations the guard looked at (1 = passed at once)
    guard_passed: bool = False
    guard_softened: float = 0.0  # sigma of the blur the guard needed after the generations (0: none)
    fallback: str = ""  # why the face fell back: 'guard', or 'error: ...'
    remembered: bool = False  # not detected in this frame; its last box was used


@dataclasses.dataclass(frozen=True, order=True)
class GuardDepth:
    """How far the guard had to go for a face, ordered from shallow to deep: fell back, then softened, then tries.

    A video track starts each frame's face at the deepest depth any of its frames needed (`Deidentifier.process`,
    `guard_starts`): its face no longer switches between one and two generations from frame to frame (flicker) and
    is never less changed than it was.
    """

    fell_back: bool = False
    softened: float = 0.0
    tries: int = 1

    @classmethod
    def of(cls, report):
        """The depth `report`'s face reached (shallowest for a face the guard did not judge)."""
        return cls(report.fallback == "guard", report.guard_softened, max(1, report.guard_tries))


class Deidentifier:
    """Replaces every face in RGB uint8 images with a generated (or blurred, pixelated, solid) one.

    Args:
        model: work directory, SavedModel export, .tflite, .onnx or packaged
            model folder (see `backends.load_backend`); None for the
            pretrained model shipped in the package.
        replacewith: 'ppgan', 'blur', 'mosaic' or 'solid'.
        threshold, min_face_size, max_side: detector settings (threshold None:
            the detector's default, `detection.DEFAULT_THRESHOLDS`).
        margin: alignment margin the generator was trained with.
        guard: compare each generated face with the original and resample
            the noise while a recogniser still matches them.
        guard_with: who judges for the guard: 'facenet' (default; FaceNet
            20180408, which the shipped model never trained against, at its
            10-fold LFW threshold), 'sface' (SFace, a 99.5% LFW recogniser, at
            its published threshold; the shipped model trained against it),
            'verificator' (the model's own), or any object with
            `embed(uint8 faces)` and `threshold`. A guard the model trained
            against is weak: the model learnt to step just past it.
        guard_tries: generations tried before falling back.
        guard_margin: how far the guard's recogniser must place the generated
            face from the original, as a multiple of its match threshold (1.0:
            just no longer a match; above 1 leaves room for other recognisers).
        guard_retry: what a retry generates from: 'chain' (default; the last
            generated face, so each pass moves the identity further while pose
            and light stay) or 'resample' (the original, with new noise only).
        guard_soften: Gaussian sigmas, in pixels of the model's face, tried in
            turn on the last generated face when no generation passed, each
            judged by the guard before the fallback; () for none.
        fallback: what replaces a face the guard could not make unrecognisable.
        fail_mode: what replaces a face whose processing raised an error.
        draw_boxes: outline each face (for checking detections).
        backend, detector: ready-made ones (tests, reuse across calls).
        detector_name: the detector made when none is given: 'yunet' (ten
            times faster than MTCNN at the same recall) or 'mtcnn' (the
            paper's; `ppgan_tf.faces.detection`).

    Example:
    >>> deidentifier = Deidentifier("ppgan_runs/default")
    >>> image, faces = deidentifier.process(rgb_uint8)
    """

    def __init__(self, model=None, replacewith="ppgan", threshold=None, min_face_size=20, max_side=1280,
                 margin=0.2, guard=True, guard_with=GUARD_WITH, guard_tries=GUARD_TRIES, guard_margin=GUARD_MARGIN,
                 guard_retry=GUARD_RETRY, guard_soften=GUARD_SOFTEN, fallback="blur", fail_mode="solid",
                 draw_boxes=False, backend=None, detector=None, detector_name="yunet"):
        if replacewith not in MODES:
            raise ValueError(f"replacewith={replacewith!r}: choose from {MODES}")
        for name, mode in (("fallback", fallback), ("fail_mode", fail_mode)):
            if mode not in MODES[1:]:
                raise ValueError(f"{name}={mode!r}: choose from {MODES[1:]}")
        if guard_retry not in GUARD_RETRIES:
            raise ValueError(f"guard_retry={guard_retry!r}: choose from {GUARD_RETRIES}")
        self.replacewith = replacewith
        self.margin = margin
        self.guard_tries = max(1, guard_tries)
        self.guard_margin = guard_margin
        self.guard_retry = guard_retry
        self.guard_soften = tuple(float(sigma) for sigma in guard_soften)
        if any(sigma <= 0 for sigma in self.guard_soften):
            raise ValueError(f"guard_soften={guard_soften!r}: sigmas must be positive")
        self.fallback = fallback
        self.fail_mode = fail_mode
        self.draw_boxes = draw_boxes
        # Seconds spent in each stage since construction (detection, alignment, generation, guard, blend, classic):
        # where a photo's time goes (benchmarks/photos.py).
        self.timings = collections.Counter()
        self.backend = backend
        if replacewith == "ppgan" and backend is None:
            from ppgan_tf.deidentify.backends import load_backend

            self.backend = load_backend(model)
        self.guard = None
        if guard and replacewith == "ppgan":
            self.guard = self._guard_recogniser(guard_with, margin)
        if detector is None:
            from ppgan_tf.faces.detection import make_detector

            detector = make_detector(detector_name, threshold, min_face_size, max_side)
        self.detector = detector
        if self.backend is not None:
            self._mask = replace.face_mask(self.backend.image_size, margin)

    def _guard_recogniser(self, guard_with, margin):
        if guard_with == "verificator":
            if not self.backend.has_verificator:
                raise ValueError(f"{self.backend.name}: no verificator for the privacy guard "
                                 "(use guard_with='facenet', or guard=False to go without)")
            return self.backend
        if guard_with == "sface":
            from ppgan_tf.faces.recognition import SFaceOpenCV

            return SFaceOpenCV(margin=margin)  # SFace's embeddings, 1.7x faster than through TF
        if guard_with == "facenet":
            from ppgan_tf.faces.recognition import FaceNetOpenCV

            return FaceNetOpenCV(margin=margin)  # without TensorFlow
        if hasattr(guard_with, "embed") and hasattr(guard_with, "threshold"):
            return guard_with
        raise ValueError(f"guard_with={guard_with!r}: 'sface', 'facenet', 'verificator' or an object with embed and "
                         "threshold")

    # === One image ===

    @contextlib.contextmanager
    def timed(self, stage):
        """Adds the time spent in the block to `timings[stage]`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] += time.perf_counter() - started

    def detect(self, image):
        """The detector's faces in `image`, timed."""
        with self.timed("detection"):
            return self.detector.detect(image)

    def process(self, image, faces=None, seeds=None, tracks=None, remembered=None, guard_starts=None):
        """De-identifies `image` (RGB uint8); returns (new image, [FaceReport]).

        Args:
            faces: the faces to replace; detected when None.
            seeds: a noise seed per face (fresh random ones when None).
            tracks: a track id per face, recorded in the report.
            remembered: per face, True when it was not detected in this frame
                and its track's last box stands in: that region is hidden
                with the fallback (blur) rather than given a generated face,
                which would be pasted where the person may no longer be.
            guard_starts: per face, the `GuardDepth` its generation starts
                at: depths below it are generated but not judged, and a
                face that fell back before falls back again.
        """
        if faces is None:
            faces = self.detect(image)
        seeds = list(seeds) if seeds is not None else tracking.seeds_for(len(faces))
        if len(seeds) != len(faces):  # before any face is replaced: no half-done photo
            raise ValueError(f"{len(seeds)} seeds for {len(faces)} faces: give one seed per face")
        result, reports = image.copy(), []
        for i, face in enumerate(faces):
            report = FaceReport(box=[round(float(v), 1) for v in face.box], score=round(face.score, 4),
                                mode=self.replacewith, seed=seeds[i], track=tracks[i] if tracks else -1,
                                remembered=bool(remembered and remembered[i]))
            try:
                if report.remembered and self.replacewith == "ppgan":
                    report.mode = self.fallback
                    with self.timed("classic"):
                        result = replace.classic(result, face.box, self.fallback)
                else:
                    start = guard_starts[i] if guard_starts else GuardDepth()
                    result = self._replace(result, face, seeds[i], report, start)
            except Exception as error:  # fail closed: whatever broke, the face is hidden
                result = replace.classic(result, face.box, self.fail_mode)
                report.mode, report.fallback = self.fail_mode, f"error: {type(error).__name__}: {error}"
            reports.append(report)
        if self.draw_boxes:
            for face in faces:
                x, y, w, h = (int(round(v)) for v in face.box)
                cv2.rectangle(result, (x, y), (x + w, y + h), (0, 255, 0), max(1, image.shape[1] // 400))
        return result, reports

    def _replace(self, image, face, seed, report, start=GuardDepth()):
        if self.replacewith != "ppgan":
            with self.timed("classic"):
                return replace.classic(image, face.box, self.replacewith)
        with self.timed("alignment"):
            aligned = alignment.align_face(image, face.landmarks, self.backend.image_size, self.margin)
        fake = self._guarded_generation(self._model_input(aligned.crop), seed, report, start)
        if fake is None:
            report.mode, report.fallback = self.fallback, "guard"
            with self.timed("classic"):
                return replace.classic(image, face.box, self.fallback)
        with self.timed("blend"):
            blended, _ = replace.blend_into_photo(image, fake, aligned, self._mask)
        return blended

    def _model_input(self, crop):
        if self.backend.channels == 1 and crop.shape[-1] == 3:
            return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[:, :, None]
        return crop

    def _guarded_generation(self, crop, seed, report, start=GuardDepth()):
        """A generated face the guard's recogniser no longer matches to `crop`, or None; judged from `start` on."""
        if self.guard is not None and start.fell_back:
            return None
        with self.timed("guard"):
            original = self.guard.embed(crop[None])[0] if self.guard is not None else None
        source = crop
        for attempt in range(self.guard_tries):
            with self.timed("generation"):
                fake = self.backend.generate(source[None], self.backend.noise([retry_seed(seed, attempt)]))[0]
            if not np.all(np.isfinite(fake)) or fake.shape != crop.shape:
                raise ValueError(f"generator returned {fake.shape} values, not a {crop.shape} face")
            fake = self.backend.as_pasted(crop[None], fake[None])[0]  # what is pasted, and so what the guard judges
            if self.guard is None:
                return fake
            report.guard_tries = attempt + 1
            if not start.softened and attempt + 1 >= start.tries and self._unrecognised(fake, original):
                report.guard_passed = True
                return fake
            if self.guard_retry == "chain":
                source = fake
        for sigma in (sigma for sigma in self.guard_soften if sigma >= start.softened):
            softened = cv2.GaussianBlur(fake, (0, 0), sigma).reshape(fake.shape)
            if self._unrecognised(softened, original):
                report.guard_passed, report.guard_softened = True, sigma
                return softened
        return None

    def _unrecognised(self, face, original_embedding):
        """True when the guard places `face` at least `guard_margin` times its threshold from the original."""
        with self.timed("guard"):
            distance = float(np.linalg.norm(self.guard.embed(face[None])[0] - original_embedding))
        return distance >= self.guard.threshold * self.guard_margin

    # === An aligned crop (no detection) ===

    def process_aligned(self, crop, seed=None):
        """De-identifies an already-aligned face crop of any size; returns (crop, FaceReport)."""
        height, width = crop.shape[:2]
        size = self.backend.image_size if self.backend else max(height, width)
        seed = tracking.seeds_for(1)[0] if seed is None else seed
        report = FaceReport(box=[0, 0, width, height], score=1.0, mode=self.replacewith, seed=seed)
        whole = (0, 0, width, height)
        try:
            if self.replacewith != "ppgan":
                return replace.classic(crop, whole, self.replacewith), report
            resized = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).reshape(size, size, -1)
            fake = self._guarded_generation(self._model_input(resized), seed, report)
            if fake is None:
                report.mode, report.fallback = self.fallback, "guard"
                return replace.classic(crop, whole, self.fallback), report
            if crop.shape[-1] == 3 and fake.shape[-1] == 1:
                fake = cv2.cvtColor(fake, cv2.COLOR_GRAY2RGB)
            out = cv2.resize(fake, (width, height), interpolation=cv2.INTER_LINEAR)
            return out.reshape(height, width, -1), report
        except Exception as error:
            report.mode, report.fallback = self.fail_mode, f"error: {type(error).__name__}: {error}"
            return replace.classic(crop, whole, self.fail_mode), report
