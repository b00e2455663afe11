"""`ppgan-deidentify INPUT... -o OUTPUT`: every face in photos, folders, videos or a webcam, replaced.

Each input is a photo, a folder (recursive; the output mirrors its tree), a
video (mp4, avi, mov, mkv) or a webcam index. Faces are detected, aligned,
de-identified by the generator under the privacy guard, warped back and
blended in; any failure hides the face (solid) instead of leaving it.
Metadata is stripped unless --keep-metadata (which still drops the location).
Bad files get a one-line message and the batch goes on; the exit status is 1
when anything failed.
"""

import argparse
import dataclasses
import json
import os
import sys
import time

import tqdm

from ppgan_tf.deidentify import files, media
from ppgan_tf.deidentify.deidentifier import (GUARD_MARGIN, GUARD_RETRIES, GUARD_RETRY, GUARD_SOFTEN, GUARD_TRIES,
                                             GUARD_WITH, MODES, Deidentifier)


def _sigmas(text):
    """'2,4' -> (2.0, 4.0); '' -> () (argparse turns the ValueError into a usage error)."""
    return tuple(float(part) for part in text.split(",") if part.strip())


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="ppgan-deidentify", description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="photos, folders, videos, or a webcam index")
    parser.add_argument("-o", "--output", required=True, help="output folder (or file, for one photo or video)")
    parser.add_argument("--model", help="work directory, SavedModel export, .tflite or .onnx (for --replacewith=ppgan)")
    parser.add_argument("--replacewith", choices=MODES, default="ppgan", help="what replaces faces (default ppgan)")
    parser.add_argument("--detector", choices=("yunet", "mtcnn"), default="yunet",
                        help="face detector: YuNet (default, ten times faster) or MTCNN (the paper's)")
    parser.add_argument("--thresh", type=float,
                        help="face detection confidence (default 0.8 for YuNet, 0.9 for MTCNN)")
    parser.add_argument("--min-face-size", type=int, default=20, help="smallest face side in pixels (default 20)")
    parser.add_argument("--max-side", type=int, default=1280, help="photos are downscaled to this for detection")
    parser.add_argument("--max-megapixels", type=float, default=200,
                        help="photos larger than this are refused before decoding (default 200)")
    parser.add_argument("--margin", type=float, default=0.2, help="alignment margin the model was trained with")
    parser.add_argument("--guard-tries", type=int, default=GUARD_TRIES,
                        help=f"generations the privacy guard may try per face (default {GUARD_TRIES})")
    parser.add_argument("--guard-margin", type=float, default=GUARD_MARGIN,
                        help=f"distance the guard must see, as a multiple of its recogniser's threshold "
                             f"(default {GUARD_MARGIN})")
    parser.add_argument("--guard-retry", choices=GUARD_RETRIES, default=GUARD_RETRY,
                        help="a retry regenerates from the last generated face (chain, default) "
                             "or from the original (resample)")
    parser.add_argument("--guard-soften", type=_sigmas, default=GUARD_SOFTEN,
                        help="blurs (Gaussian sigmas, pixels of the 128 px face, comma-separated) tried on the last "
                             "generated face before the fallback, each checked by the guard; '' for none "
                             f"(default {','.join(f'{sigma:g}' for sigma in GUARD_SOFTEN)})")
    parser.add_argument("--no-guard", action="store_true", help="do not check generated faces with a recogniser")
    parser.add_argument("--guard-with", choices=("facenet", "sface", "verificator"), default=GUARD_WITH,
                        help="the guard's recogniser: FaceNet (default; the shipped model never trained against it), "
                             "SFace (which it trained against) or the model's own verificator")
    parser.add_argument("--fallback", choices=MODES[1:], default="blur", help="for faces the guard rejects")
    parser.add_argument("--aligned", action="store_true", help="inputs are aligned face crops: no detection")
    parser.add_argument("--keep-audio", action="store_true", help="copy videos' audio (ffmpeg from imageio-ffmpeg)")
    parser.add_argument("--keep-metadata", action="store_true", help="keep photo metadata except the location")
    parser.add_argument("--frame-memory", type=int, default=5, help="frames a missed face keeps its last box")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--dry-run", action="store_true", help="list what would be written, write nothing")
    parser.add_argument("--boxes", action="store_true", help="draw the detected faces")
    parser.add_argument("--report", help="JSON report path (default OUTPUT/deidentify_report.json)")
    parser.add_argument("--seed", type=int, help="noise seed for reproducible faces (default random)")
    return parser.parse_args(argv)


@dataclasses.dataclass
class Job:
    source: object  # a path, or a webcam index
    target: str
    kind: str  # image, video, webcam


def _file_in_the_way(path):
    """The first existing non-folder among the folders above `path`, or None."""
    folder = os.path.dirname(os.path.abspath(path))
    while folder and not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return folder if folder and not os.path.isdir(folder) else None


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def plan_jobs(inputs, output, log):
    """The files to process and where each goes, decided before any work.

    Unknown files are reported, not fatal. The output folder is never read as
    input (an output inside an input folder is left out of its walk);
    symlinked folders are followed once; an output that would replace its own
    input, or that two inputs would both write, is refused and named.
    """
    jobs, problems = [], {}
    single = len(inputs) == 1 and os.path.splitext(output)[1] and not os.path.isdir(output)
    for item in inputs:
        if item.isdigit() and not os.path.exists(item):
            jobs.append(Job(int(item), os.path.join(output, f"webcam{item}.mp4"), "webcam"))
        elif os.path.isdir(item):
            root = os.path.abspath(item)
            visited = set()
            for folder, subfolders, names in os.walk(root, followlinks=True):
                real = os.path.realpath(folder)
                if real in visited or (_inside(folder, output) and not _inside(root, output)):
                    subfolders[:] = []  # a link cycle, or our own output folder
                    continue
                visited.add(real)
                subfolders.sort()
                for name in sorted(names):
                    path = os.path.join(folder, name)
                    target = os.path.join(output, os.path.basename(root), os.path.relpath(path, root))
                    if media.kind_of(path):
                        jobs.append(Job(path, target, media.kind_of(path)))
                    elif not name.startswith("."):
                        problems[path] = "unsupported file type"
        elif not os.path.exists(item):
            problems[item] = "no such file or folder"
        elif media.kind_of(item) is None:
            problems[item] = f"unsupported file type {os.path.splitext(item)[1] or '(none)'}"
        else:
            target = output if single else os.path.join(output, os.path.basename(item))
            jobs.append(Job(item, target, media.kind_of(item)))
    jobs, problems = _refuse_clashes(jobs, problems)
    for path, problem in problems.items():
        log(f"failed {path}: {problem}")
    return jobs, problems


def _refuse_clashes(jobs, problems):
    """Jobs whose target is their own source, or a target an earlier job already writes, become problems."""
    kept, writers = [], {}
    for job in jobs:
        target = os.path.realpath(job.target)
        if job.kind != "webcam" and os.path.exists(job.source) and target == os.path.realpath(job.source):
            problems[str(job.source)] = "the output would replace the input: choose another -o"
        elif target in writers:
            problems[str(job.source)] = (f"{writers[target]} is also written to {job.target}: "
                                         "process them into different outputs")
        else:
            writers[target] = job.source
            kept.append(job)
    return kept, problems


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731
    report_path = args.report or os.path.join(args.output if not os.path.splitext(args.output)[1] else
                                              os.path.dirname(os.path.abspath(args.output)), "deidentify_report.json")
    blocked = _file_in_the_way(report_path)
    if blocked:  # checked before the work, not after it
        log(f"error: --report {report_path}: {blocked} is a file, not a folder")
        return 2
    jobs, problems = plan_jobs(args.inputs, args.output, log)
    report = {"files": {}, "failed": dict(problems), "skipped_existing": []}
    todo = []
    for job in jobs:
        if job.kind != "webcam" and os.path.exists(job.target) and not args.overwrite:
            log(f"skipped {job.source}: {job.target} exists (use --overwrite)")
            report["skipped_existing"].append(str(job.source))
        else:
            todo.append(job)
    if args.dry_run:
        for job in todo:
            print(f"{job.source} -> {job.target}")
        return 1 if problems else 0

    try:
        deidentifier = Deidentifier(
            args.model, args.replacewith, args.thresh, args.min_face_size, args.max_side, args.margin,
            guard=not args.no_guard, guard_with=args.guard_with, guard_tries=args.guard_tries,
            guard_margin=args.guard_margin, guard_retry=args.guard_retry, guard_soften=args.guard_soften,
            fallback=args.fallback, draw_boxes=args.boxes, detector_name=args.detector,
        )
    except (ValueError, OSError) as error:
        log(f"error: {error}")
        return 2
    started = time.time()
    bar = tqdm.tqdm(todo, desc="files", unit="file", disable=len(todo) < 2)
    for job in bar:
        try:
            if job.kind == "image":
                report["files"][str(job.source)] = files.deidentify_photo(
                    deidentifier, job.source, job.target, args.seed, aligned=args.aligned,
                    max_pixels=int(args.max_megapixels * 1_000_000), keep_metadata=args.keep_metadata)
            else:
                report["files"][str(job.source)] = files.deidentify_video(
                    deidentifier, job.source, job.target, args.seed, webcam=job.kind == "webcam",
                    frame_memory=args.frame_memory, keep_audio=args.keep_audio, progress=True)
        except Exception as error:  # one bad file never stops the batch; nothing of it was written
            problem = str(error).replace(f"{job.source}: ", "") if isinstance(error, media.MediaError) else \
                f"{type(error).__name__}: {error}"
            log(f"failed {job.source}: {problem}")
            report["failed"][str(job.source)] = problem
        faces = sum(r["faces"] for r in report["files"].values())
        bar.set_postfix(faces=faces, faces_s=f"{faces / max(time.time() - started, 1e-9):.1f}", refresh=False)
    report["summary"] = summarize(report, time.time() - started)
    media.write_atomically(report_path, json.dumps(report, indent=2).encode())
    summary = report["summary"]
    log(f"{summary['files_done']} files done, {summary['files_failed']} failed, {summary['files_skipped']} skipped; "
        f"{summary['faces']} faces ({summary['guard_first_try']} passed the guard at once, {summary['guard_softened']} "
        f"softened, {summary['fallbacks']} fell back); {len(summary['photos_without_faces'])} photos without a "
        f"detected face, written unchanged; {summary['photos_per_second']:.2f} photos/s; report: {report_path}")
    return 1 if report["failed"] else 0


def summarize(report, seconds):
    done = report["files"].values()
    photos = sum(1 for r in done if "face_reports" in r)
    return {
        "files_done": len(report["files"]),
        "files_failed": len(report["failed"]),
        "files_skipped": len(report["skipped_existing"]),
        # Written unchanged: check these if a face could have been missed.
        "photos_without_faces": sorted(k for k, r in report["files"].items() if "face_reports" in r and not r["faces"]),
        # Faces, guard passes at once, softened, fell back: every file's counts (files.face_counts) summed.
        **{key: sum(r[key] for r in done) for key in files.face_counts([])},
        "seconds": round(seconds, 2),
        "photos_per_second": photos / seconds if seconds > 0 else 0.0,
    }


def run():
    sys.exit(main())
