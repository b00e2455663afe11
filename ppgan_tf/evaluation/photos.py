"""Evaluation through the whole-photo route: what `ppgan-deidentify` does to a person's photos.

For each test photo (people, or photos, that the run held out of training):
the de-identifier detects the face, aligns it, generates (under its guard),
and pastes the new face back; then the original and the output photo are both
aligned with the landmarks detected on the original, and the two face crops
are judged as the crop evaluation judges them (de-identification, identity
switches, rank-1, SSIM over the face, MTCNN with and without padding), beside
the baselines applied to the original crops. Besides the report (JSON, Markdown
and a trade-off plot) it writes faces.csv: each face's photo, groups, guard
outcome, distances, de-identification and detections, to find the faces
behind a missed target.
"""

import csv
import dataclasses
import json
import os

import numpy as np

from ppgan_tf import metrics
from ppgan_tf.data import images as face_images
from ppgan_tf.evaluation import evaluate
from ppgan_tf.evaluation import report as report_files
from ppgan_tf.faces import alignment, detection

PHOTOS_SUBDIR = "evaluation_photos"


def test_photos(workdir, dataset, photos_root):
    """(photo paths, identities, records) of WORKDIR's test faces from `dataset`, found under `photos_root`.

    Test records come from the run's split; their `source` attribute (written
    by `trainers.prepare_data`) is the photo's path under the original
    dataset's folder, `photos_root`.
    """
    from ppgan_tf.config import RunConfig
    from ppgan_tf.data import manifest, split

    config = RunConfig.load(workdir)
    _, test = split.split_for_run(manifest.load_records(config.data), config, workdir, save=False)
    chosen = [r for r in test if not dataset or r.attribute("dataset") == dataset]
    if not chosen or not chosen[0].attribute("source"):
        raise ValueError(f"{workdir}: no test faces of {dataset or 'its data'} with a 'source' photo "
                         f"(prepare the data with trainers.prepare_data)")
    seen, paths, records = set(), [], []
    for record in chosen:
        path = os.path.join(photos_root, record.attribute("source"))
        if path not in seen:
            seen.add(path)
            paths.append(path)
            records.append(record)
    return paths, records


def photo_crops(deidentifier, paths, size=128, margin=0.2, first_seed=0, log=print):
    """(original crops, output crops, kept indices, output photos' face reports) through the whole-photo route.

    The largest face detected in each original photo is replaced (the i-th
    photo's with noise seed `first_seed` + i); both photos are then aligned
    with its landmarks. Photos without a face are left out.
    """
    originals, outputs, kept, reports = [], [], [], []
    for index, path in enumerate(paths):
        try:
            photo = face_images.decode_image(path, 3)
        except face_images.ImageError as error:
            log(f"skipped {path}: {error.problem}")
            continue
        faces = detection.choose_faces(deidentifier.detector.detect(photo), "largest", photo.shape)
        if not faces:
            log(f"skipped {path}: no face found")
            continue
        output, face_reports = deidentifier.process(photo, faces=faces, seeds=[first_seed + index])
        originals.append(alignment.align_face(photo, faces[0].landmarks, size, margin).crop)
        outputs.append(alignment.align_face(output, faces[0].landmarks, size, margin).crop)
        kept.append(index)
        reports.append(face_reports[0])
    return np.stack(originals), np.stack(outputs), kept, reports


def guard_outcome(report):
    """What became of a face under the guard, as a group name: 'generation N', 'softened S' or the fallback's mode."""
    if report.mode != "ppgan":
        return report.mode
    if report.guard_softened:
        return f"softened {report.guard_softened:g}"
    return f"generation {report.guard_tries}"


def guard_counts(reports):
    """How many faces the guard passed at the first generation, after more, softened, and how many fell back."""
    return {"passed_first_try": sum(r.guard_passed and r.guard_tries == 1 for r in reports),
            "passed_after_retries": sum(r.guard_passed and r.guard_tries > 1 and not r.guard_softened
                                        for r in reports),
            "passed_softened": sum(bool(r.guard_softened) for r in reports),
            "fell_back": sum(bool(r.fallback) for r in reports)}


def evaluate_photos(workdir, dataset, photos_root, deidentifier, judges, detector=None, max_photos=None,
                    include_baselines=True, group_by=(), trained_against=(), out=None, second_detector=None,
                    first_seed=0, log=print):
    """Judges the whole-photo route on WORKDIR's held-out photos; writes and returns the report.

    Args:
        judges: `judges.Judge`s, none of which the model trained against.
        max_photos: cap, taken as whole people in a seeded random order.
        group_by: manifest attributes reported per group; with a guard, its outcome per face ('guard':
            the generation that passed, softened, or fallen back) is always one of them.
        detector, second_detector: MTCNN and another detector (dlib's HOG) run on every method's crops.
        trained_against: the recognisers the model learnt from, named in the report.
        first_seed: the first photo's noise seed (the i-th photo's is first_seed + i): another value draws other
            noise, and so other chains under the guard, for the spread of every number over the generator's noise.
    """
    paths, records = test_photos(workdir, dataset, photos_root)
    chosen = evaluate.sample_people([r.identity for r in records], max_photos)
    paths, records = [paths[i] for i in chosen], [records[i] for i in chosen]
    originals, outputs, kept, reports = photo_crops(deidentifier, paths, first_seed=first_seed, log=log)
    records = [dataclasses.replace(records[i], attributes=(*records[i].attributes, ("guard", guard_outcome(report))))
               for i, report in zip(kept, reports)]
    if deidentifier.guard is not None and "guard" not in group_by:
        group_by = (*group_by, "guard")
    identities = [r.identity for r in records]
    methods = {"ppgan": outputs}
    if include_baselines:
        methods.update(evaluate.baseline_outputs(originals))
    rows, groups, at_far, faces = evaluate.score_methods(originals, methods, records, judges,
                                                         evaluate.embed_once(judges, originals), group_by, detector,
                                                         second_detector, log)
    report = {
        "workdir": os.path.abspath(workdir),
        "route": "whole photos through the de-identifier (detect, align, generate under the guard, paste back)",
        "dataset": dataset,
        "photos": len(paths),
        "first_seed": first_seed,
        "test_faces": len(originals),
        "test_people": len(set(identities)),
        "model": deidentifier.backend.name,
        "trained_against": list(trained_against),
        "guard": {**guard_counts(reports),
                  "tries": deidentifier.guard_tries, "margin": deidentifier.guard_margin,
                  "retry": deidentifier.guard_retry, "soften": list(deidentifier.guard_soften),
                  "with": getattr(deidentifier.guard, "name", None)},
        "judges": evaluate.judges_info(judges, at_far),
        "methods": rows,
        "groups": groups,
    }
    if detector is not None:
        report["original_detection_rate"] = metrics.detection_rate(originals, detector)
        report["original_detection_rate_padded"] = metrics.detection_rate(
            originals, detector, metrics.DETECTION_PADDING)
    if second_detector is not None:
        report["original_second_detection_rate"] = metrics.detection_rate(originals, second_detector)
        report["original_second_detection_rate_padded"] = metrics.detection_rate(
            originals, second_detector, metrics.DETECTION_PADDING)
    out = out or os.path.join(workdir, f"{PHOTOS_SUBDIR}_{dataset or 'data'}")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown_table(report))
    report_files.tradeoff_plot(report, os.path.join(out, "tradeoff.png"))
    write_faces_csv(os.path.join(out, "faces.csv"), records, group_by, faces["ppgan"])
    return report


def write_faces_csv(path, records, group_by, facts):
    """One row per judged face: its photo (under the photos' root), person, groups and the model's `face_facts`,
    so that the faces behind a missed target can be found and looked at."""
    columns = ["photo", "identity", *group_by, *facts]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for index, record in enumerate(records):
            values = [facts[key][index] for key in facts]
            writer.writerow([record.attribute("source"), record.identity,
                             *(evaluate.group_of(record, attribute) for attribute in group_by),
                             *(f"{value:.4f}" if isinstance(value, (float, np.floating)) else int(value)
                               for value in values)])


def _with_padding(row, key):
    """'rate / padded rate' of a detection metric of a row."""
    return f"{row[key]:.3f} / {row[f'{key}_padded']:.3f}"


def markdown_table(report):
    """The report's methods (and groups) as Markdown tables."""
    judges = list(report["judges"])
    detection = "detection_rate" in report["methods"]["ppgan"]
    second = "second_detection_rate" in report["methods"]["ppgan"]
    shift = "luminance_shift" in report["methods"]["ppgan"]  # reports before 2026-11-28 have none
    header = ["method", "SSIM", *(["Y shift"] if shift else []), *(f"de-id {j}" for j in judges),
              *(f"rank-1 {j}" for j in judges)]
    header += ["MTCNN / padded"] if detection else []
    header += ["dlib HOG / padded"] if second else []
    lines = [f"{report['test_faces']} faces of {report['test_people']} held-out people ({report['dataset']}), "
             f"{report['route']}; model {report['model']}, trained against: "
             f"{', '.join(report['trained_against']) or 'its own verificator only'}. Guard: {report['guard']}.",
             *(["", report_files.SHIFT_NOTE] if shift else []),
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, row in report["methods"].items():
        cells = [method, report_files.cell(row["ssim"]), *([report_files.shift_cell(row)] if shift else []),
                 *(report_files.cell(row[f"{j}_deid_rate"]) for j in judges),
                 *(report_files.cell(row[f"{j}_rank1_reidentification"]) for j in judges)]
        if detection:
            cells.append(_with_padding(row, "detection_rate"))
        if second:
            cells.append(_with_padding(row, "second_detection_rate"))
        lines.append("| " + " | ".join(cells) + " |")
    lines += report_files.verification_tables(report)
    for attribute, values in report["groups"].items():
        lines += ["", f"By {attribute} (ppgan): faces, SSIM, " + ("Y shift, " if shift else "")
                  + ", ".join(f"de-id {j}" for j in judges) + (", MTCNN / padded" if detection else ""), "",
                  "| group | faces | SSIM | " + ("Y shift | " if shift else "") + " | ".join(judges)
                  + (" | MTCNN / padded" if detection else "") + " |",
                  "|" + "---|" * (3 + shift + len(judges) + detection)]
        for value, methods in values.items():
            row = methods["ppgan"]
            lines.append(f"| {value} | {row['faces']} | {row['ssim']:.3f} | "
                         + (f"{report_files.shift_cell(row)} | " if shift else "")
                         + " | ".join(f"{row[f'{j}_deid_rate']:.3f}" for j in judges)
                         + (f" | {_with_padding(row, 'detection_rate')}" if detection else "")
                         + " |")
    return "\n".join(lines) + "\n"
