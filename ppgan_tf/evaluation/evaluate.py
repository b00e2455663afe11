"""Evaluating a trained run as the paper's section 4 does, with judges the generator never trained against.

For PP-GAN and every baseline, per judge: de-identification rate on the
test (and train) faces, the 'original test' false-rejection rate, identity
switches, rank-1 re-identification against a gallery with another photo of
every test person, SSIM, and MTCNN detection rates with and without 50 px of
zero padding. Writes report.json, report.md and the trade-off plot into
WORKDIR/evaluation, or, for another dataset (`data`), into
WORKDIR/evaluation_<its folder name>.
"""

import collections
import os

import numpy as np

from ppgan_tf import metrics
from ppgan_tf.config import RunConfig
from ppgan_tf.data import manifest, pipeline
from ppgan_tf.data.records import labelled
from ppgan_tf.data.images import FaceSet
from ppgan_tf.evaluation import attributes as attribute_models
from ppgan_tf.evaluation import baselines, judges
from ppgan_tf.evaluation.report import write_report
from ppgan_tf.models import recognisers
from ppgan_tf.training import run

EVALUATION_SUBDIR = "evaluation"
# A generator that changes identity in the luminance (trained with verif_grey) is pasted as its luminance under the
# photo's own colours (`Backend.as_pasted`): judged as raw output ("ppgan") and as pasted.
PASTED = "ppgan_luminance"


def gallery_split(identities):
    """(probe indices, gallery indices) over people with 2+ photos: each one's first photo is the gallery."""
    counts = collections.Counter(identities)
    gallery, probes = {}, []
    for index, identity in enumerate(identities):
        if counts[identity] < 2:
            continue
        if identity in gallery:
            probes.append(index)
        else:
            gallery[identity] = index
    return probes, list(gallery.values())


def evaluation_dir(workdir, data=None):
    """WORKDIR/evaluation for the run's own test split; WORKDIR/evaluation_<folder> for another dataset."""
    if not data:
        return os.path.join(workdir, EVALUATION_SUBDIR)
    folder = os.path.basename(os.path.dirname(os.path.abspath(data)) if os.path.isfile(data) else data.rstrip("/"))
    return os.path.join(workdir, f"{EVALUATION_SUBDIR}_{folder}")


def other_dataset(config, data, test_fraction, out, log):
    """(train, test) faces of another dataset, split into `out`; train only feeds the attribute classifiers.

    A dataset without identities (UTKFace) is taken as one person per
    photo, split by image: de-identification, identity switches and
    attributes are measured; rank-1 and the 10-fold thresholds, which need
    two photos of a person, are not.
    """
    records = manifest.load_records(data)
    anonymous = all(not record.identity for record in records)
    if anonymous:
        records = manifest.each_photo_a_person(records)
        log(f"{data}: no identities, each photo taken as its own person")
    other = config.replace(data=data, test_fraction=test_fraction, stratify_by="",
                           split_unit="image" if anonymous else config.split_unit)
    return run.prepare_data(other, out, log=log, records=records)


def pairable(identities):
    try:
        pipeline.check_pairable(identities, "")
    except ValueError:
        return False
    return True


def sample_people(identities, max_faces, seed=0):
    """Sorted indices of at most `max_faces` faces, taken as whole people in a seeded random order.

    Whole people keep the pairs and the gallery of each person; a random
    order keeps the groups (gender, age, ...) in proportion, which the
    first N faces of a name-sorted manifest would not.
    """
    if not max_faces or len(identities) <= max_faces:
        return list(range(len(identities)))
    by_person = pipeline.indices_by_identity(identities)
    people = sorted(by_person)
    np.random.default_rng(seed).shuffle(people)
    chosen = []
    for person in people:
        if len(chosen) + len(by_person[person]) <= max_faces:
            chosen.extend(by_person[person])
    return sorted(chosen)


def subsample_people(faces, max_faces, seed=0):
    """At most `max_faces` of a `FaceSet`, as whole people (see `sample_people`)."""
    chosen = sample_people(faces.identities, max_faces, seed)
    if len(chosen) == len(faces.images):
        return faces
    return FaceSet(faces.images[chosen], [faces.records[i] for i in chosen], faces.skipped)


def privacy_metrics(original, output, identities, threshold, far_thresholds):
    """A judge's privacy metrics of one method, from embeddings of the originals and the outputs.

    `far_thresholds`: the judge's `metrics.thresholds_at_far` on the originals.
    """
    identities = list(identities)
    probes, gallery = gallery_split(identities)
    return {
        "deid_rate": metrics.deidentification_rate(original, output, threshold),
        "identity_switches": metrics.identity_switches(original, output, identities, threshold),
        "rank1_reidentification": (
            metrics.rank1_reidentification(
                output[probes], [identities[i] for i in probes], original[gallery], [identities[i] for i in gallery]
            )
            if probes else None
        ),
        **metrics.verification_metrics(original, output, identities, threshold, far_thresholds),
    }


def detected_faces(outputs, detector=None, second_detector=None):
    """Per-face detections of `outputs` by the detectors given: {row key: bool array}.

    MTCNN (the paper's) gives `detection_rate` and `detection_rate_padded`, another detector (dlib's HOG)
    `second_detection_rate` and `..._padded`. Run once per method, so every group's rate comes from the same
    detections as the whole row's.
    """
    found = {}
    for prefix, detector_or_none in (("", detector), ("second_", second_detector)):
        if detector_or_none is not None:
            found[f"{prefix}detection_rate"] = metrics.detections(outputs, detector_or_none)
            found[f"{prefix}detection_rate_padded"] = metrics.detections(
                outputs, detector_or_none, metrics.DETECTION_PADDING)
    return found


def face_facts(likeness, judged, detected=None):
    """One method's per-face facts: {column: array of one value per face}.

    `likeness` (given, per face: SSIM and luminance shift), each judge's distance to the original and whether it
    reaches the judge's threshold (de-identified), and each detection of `detected_faces` ('detected',
    'detected_padded', 'second_detected', ...).
    """
    facts = dict(likeness)
    for name, original, output, threshold, _ in judged:
        distances = np.linalg.norm(np.asarray(original, np.float64) - np.asarray(output, np.float64), axis=-1)
        facts[f"{name}_distance"] = distances
        facts[f"{name}_deidentified"] = distances >= threshold
    for key, found in (detected or {}).items():
        facts[key.replace("detection_rate", "detected")] = found
    return facts


def likeness_to_originals(originals, outputs):
    """Per face, how like its original an output stays: SSIM and `metrics.luminance_shift` (grey levels)."""
    return {"ssim": metrics.ssim_of_uint8(originals, outputs),
            "luminance_shift": metrics.luminance_shift(originals, outputs)}


def method_row(likeness, identities, judged, detected=None):
    """Every metric of one method on a set of faces.

    Args:
        likeness: `likeness_to_originals` of these outputs, per face.
        judged: (judge name, original embeddings, output embeddings, threshold, thresholds at FAR) per judge.
        detected: `detected_faces` of these outputs, whose shares become the row's detection rates.
    """
    ssim = likeness["ssim"]
    row = {"faces": len(ssim), "ssim": float(np.mean(ssim)), "ssim_std": float(np.std(ssim)),
           "luminance_shift": float(np.mean(likeness["luminance_shift"]))}
    for name, original, output, threshold, far_thresholds in judged:
        for key, value in privacy_metrics(original, output, identities, threshold, far_thresholds).items():
            row[f"{name}_{key}"] = value
    row.update({key: float(np.mean(found)) for key, found in (detected or {}).items()})
    return row


def baseline_outputs(faces):
    """Every baseline's output on uint8 `faces`, by name (k-same only where k is at most the number of faces)."""
    return {name: function(faces) for name, function in baselines.baseline_suite().items()
            if not name.startswith("k_same") or int(name.rsplit("_", 1)[1]) <= len(faces)}


def generator_outputs(backend, faces):
    """{"ppgan": the backend's outputs for uint8 `faces` (noise seed i for the i-th), and, where the de-identifier
    pastes something else (a generator that changes identity in the luminance), `PASTED`: what it pastes
    (`Backend.as_pasted`)}."""
    raw = backend.generate(faces, backend.noise(range(len(faces))))
    pasted = backend.as_pasted(faces, raw)
    return {"ppgan": raw} if pasted is raw else {"ppgan": raw, PASTED: pasted}


def embed_once(judge_list, faces):
    """{recogniser: its embeddings of `faces`}: a recogniser judging under two names (dlib) embeds once."""
    embeddings = {}
    for judge in judge_list:
        if judge.recogniser not in embeddings:
            embeddings[judge.recogniser] = judge.recogniser.embed(faces)
    return embeddings


def far_thresholds(judge_list, original_embeddings, identities):
    """{judge name: {false-accept rate: its distance threshold}} on the originals' impostor pairs.

    Computed once per recogniser: judges sharing one (dlib and dlib_10fold) share its thresholds.
    """
    by_recogniser = {recogniser: metrics.thresholds_at_far(embeddings, identities)
                     for recogniser, embeddings in original_embeddings.items()}
    return {judge.name: by_recogniser[judge.recogniser] for judge in judge_list}


def judges_info(judge_list, thresholds_at_far):
    """The report's description of each judge: its thresholds and, where measured, its test accuracy."""
    return {judge.name: {"threshold": judge.threshold, "test_accuracy": judge.test_accuracy,
                         "thresholds_at_far": {f"{rate:g}": limit for rate, limit in thresholds_at_far[judge.name].items()}}
            for judge in judge_list}


def score_methods(originals, methods, records, judge_list, original_embeddings, group_by=(), detector=None,
                  second_detector=None, log=print):
    """(rows, groups, thresholds at FAR, faces): `method_row` of every method's outputs and of each group of each
    attribute, and every method's `face_facts`.

    Every row, groups' included, is judged at the thresholds of the whole set
    of originals (`far_thresholds`), returned third.

    Args:
        originals: the uint8 faces every method started from; `records` their records.
        methods: {name: uint8 outputs}.
        original_embeddings: `embed_once(judge_list, originals)`.
    """
    identities = [record.identity for record in records]
    at_far = far_thresholds(judge_list, original_embeddings, identities)
    rows, groups, faces = {}, {attribute: {} for attribute in group_by}, {}
    for name, outputs in methods.items():
        output_embeddings = embed_once(judge_list, outputs)
        judged = [(judge.name, original_embeddings[judge.recogniser], output_embeddings[judge.recogniser],
                   judge.threshold, at_far[judge.name]) for judge in judge_list]
        detected = detected_faces(outputs, detector, second_detector)
        likeness = likeness_to_originals(originals, outputs)  # once per method; groups take their faces' share
        rows[name] = method_row(likeness, identities, judged, detected)
        faces[name] = face_facts(likeness, judged, detected)
        log(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[name].items() if isinstance(v, float)))
        for attribute in group_by:
            for value, row in rows_by_group(attribute, records, likeness, judged, detected).items():
                groups[attribute].setdefault(value, {})[name] = row
    return rows, groups, at_far, faces


def group_of(record, attribute):
    """A face's group for an attribute; ages are binned as the paper's age groups.

    Attributes joined by '+' (e.g. 'race+age') give crossed groups such as
    'white / 20-39'; a face missing any part is in no group ('').
    """
    if "+" in attribute:
        parts = [group_of(record, part) for part in attribute.split("+")]
        return " / ".join(parts) if all(parts) else ""
    value = record.attribute(attribute)
    if attribute == "age" and value.strip().isdigit():
        age = int(value)
        return next(label for limit, label in ((20, "0-19"), (40, "20-39"), (60, "40-59"), (10**6, "60+"))
                    if age < limit)
    return value


def rows_by_group(attribute, records, likeness, judged, detected=None):
    """`method_row` of each group (of 2+ faces) of an attribute: {group: row}."""
    members = collections.defaultdict(list)
    for index, record in enumerate(records):
        members[group_of(record, attribute)].append(index)
    return {
        value: method_row({key: values[indices] for key, values in likeness.items()},
                          [records[i].identity for i in indices],
                          [(n, o[indices], x[indices], t, far) for n, o, x, t, far in judged],
                          {key: found[indices] for key, found in (detected or {}).items()})
        for value, indices in sorted(members.items()) if value and len(indices) >= 2
    }


def original_false_rejections(embeddings, identities, threshold, num_pairs, seed=0):
    """The 'original test' row: same-person pairs of real photos the judge fails to match."""
    first, second, same = pipeline.evaluation_pairs(identities, num_pairs, seed)
    positive = same == 1
    return metrics.false_rejection_rate(embeddings[first[positive]], embeddings[second[positive]], threshold)


def dlib_tenfold(dlib, embeddings, identities, num_pairs, seed=0):
    """dlib at a 10-fold threshold on the test pairs, with its accuracy at the published one set on `dlib`."""
    first, second, same = pipeline.evaluation_pairs(identities, num_pairs, seed)
    distances = np.linalg.norm(embeddings[first] - embeddings[second], axis=-1)
    dlib.test_accuracy = float(np.mean((distances < dlib.threshold) == (same == 1)))
    tenfold = metrics.ten_fold_threshold(distances, same)
    return judges.Judge("dlib_10fold", dlib.recogniser, tenfold.threshold, tenfold.accuracy)


def evaluate_run(workdir, facenet_steps=1000, judge_names=judges.JUDGES, detector=None, max_faces=None, group_by=(),
                 attributes=(), attribute_steps=500, include_baselines=True, data=None, test_fraction=0.5, log=print,
                 attribute_classifier="cnn", model=None, out=None):
    """Evaluates WORKDIR's generator, or `model`, against the baselines; returns the report it writes.

    By default on the run's own test faces (people unseen in training). With
    `data`, on another dataset (`test_fraction` of it; the rest trains the
    attribute classifiers), judged at thresholds chosen on the run's data
    where that dataset has no two photos of one person.

    `max_faces` caps the test faces (whole people, see `subsample_people`):
    dlib embeds ~10 faces a second on 2 CPU cores, for every method.

    `group_by` names manifest attributes (e.g. gender, race, age) whose groups
    get every metric of their own, as the paper reports per group;
    `attributes` names those for which a classifier trained on the original
    training faces is scored on each method's outputs (attribute preservation):
    `attribute_classifier` "cnn" (a small CNN on the faces) or a pretrained
    recogniser's name (a linear probe on its embeddings, e.g. "facenet";
    refused when the run trained against it).

    `judge_names` chooses the judges (`judges.JUDGES`: the triplet network,
    dlib at 0.6 and at a 10-fold threshold, the pretrained FaceNet and SFace
    at their published thresholds); a recogniser the run trained against is
    refused (see `judges.build_judges`).

    A generator whose identity change lives in the luminance (`verif_grey`;
    the de-identifier pastes its luminance under the photo's colours) is
    judged twice: raw ("ppgan") and as pasted (`PASTED`).

    `model` judges another model on the run's faces in place of its generator
    (anything `deidentify.backends.load_backend` reads: a packaged model folder,
    a work directory, a SavedModel, .tflite or .onnx), refusing the judges that
    model learnt from, into `out` (required then, so that the run's own
    report is not overwritten; default `evaluation_dir(workdir, data)`).
    """
    from ppgan_tf.deidentify.backends import KerasBackend, load_backend

    if model and not out:
        raise ValueError(f"model={model}: give the report its own folder (out), not the run's evaluation")
    config = RunConfig.load(workdir)
    out = out or evaluation_dir(workdir, data)
    # The run's own faces: evaluated, or (for another dataset) only needed to train a missing triplet judge.
    run_faces = None if data else run.prepare_data(config, workdir, log=lambda _: None)
    train, test = other_dataset(config, data, test_fraction, out, log) if data else run_faces
    test = subsample_people(test, max_faces, config.seed)
    with_pairs = pairable(test.identities)

    # === Judges: never seen by the generator; the triplet network trained on the run's own split ===
    trained_against = run.trained_against(config, run.load_verificator_info(config, workdir))
    if model:
        trained_against = run.model_trained_against(model, default=trained_against)
    if attributes and attribute_classifier in trained_against:
        raise ValueError(f"attribute_classifier={attribute_classifier}: the generator trained against it")
    judge_list, refused = judges.build_judges(
        judge_names, trained_against, log, judge_dir=os.path.join(workdir, EVALUATION_SUBDIR, "facenet_judge"),
        run_faces=lambda: run_faces or run.prepare_data(config, workdir, log=lambda _: None),
        facenet_steps=facenet_steps, seed=config.seed, test_pairs=config.test_pairs,
    )
    original_embeddings = embed_once(judge_list, test.images)
    dlib = next((judge for judge in judge_list if judge.name == "dlib"), None)
    if dlib and with_pairs:
        judge_list.append(dlib_tenfold(dlib, original_embeddings[dlib.recogniser], test.identities, config.test_pairs,
                                       config.seed))
    elif dlib:
        log("dlib: no 10-fold threshold (no person with two test photos); published threshold only")

    # === Methods: PP-GAN and the baselines, on the same test faces ===
    backend = load_backend(model) if model else KerasBackend(workdir)
    methods = generator_outputs(backend, test.images)
    if include_baselines:
        methods.update(baseline_outputs(test.images))
    rows, groups, at_far, _ = score_methods(test.images, methods, test.records, judge_list, original_embeddings,
                                            group_by, detector, log=log)

    attribute_results = {}
    for attribute in attributes:
        train_labels = [group_of(r, attribute) for r in train.records]
        test_labels = [group_of(r, attribute) for r in test.records]
        known_train, known_test = labelled(train_labels), labelled(test_labels)
        faces, labels = train.images[known_train], [train_labels[i] for i in known_train]
        if attribute_classifier == "cnn":
            classifier = attribute_models.AttributeClassifier.train(faces, labels, steps=attribute_steps,
                                                                    seed=config.seed)
        else:
            classifier = attribute_models.EmbeddingAttributeClassifier.train(
                recognisers.load_recogniser(attribute_classifier), faces, labels, attribute, seed=config.seed)
        labels = [test_labels[i] for i in known_test]
        outputs = {name: images[known_test] for name, images in methods.items()}
        attribute_results[attribute] = {
            "classifier": attribute_classifier,
            "classes": classifier.classes,
            "test_faces": len(known_test),
            "original": classifier.accuracy(test.images[known_test], labels),
            "methods": {name: classifier.accuracy(images, labels) for name, images in outputs.items()},
            "kept_by_class": {name: classifier.kept_by_class(images, labels)
                              for name, images in {"original": test.images[known_test], **outputs}.items()},
        }
        log(f"{attribute}: accuracy {attribute_results[attribute]['original']:.3f} on originals, "
            f"{attribute_results[attribute]['methods']['ppgan']:.3f} on PP-GAN faces")

    originals = {judge.name: original_false_rejections(original_embeddings[judge.recogniser], test.identities,
                                                       judge.threshold, config.test_pairs, config.seed)
                 if with_pairs else None for judge in judge_list}
    report = {
        "workdir": os.path.abspath(workdir),
        "model": backend.name,
        "data": data or config.data,
        "setting": config.setting,
        "test_faces": len(test.images),
        "test_people": len(set(test.identities)),
        "judges": judges_info(judge_list, at_far),
        "trained_against": trained_against,
        "refused_judges": refused,
        "original_test_false_rejection": originals,
        "methods": rows,
        "groups": groups,
        "attributes": attribute_results,
    }
    if detector is not None:
        report["original_detection_rate"] = metrics.detection_rate(test.images, detector)
        report["original_detection_rate_padded"] = metrics.detection_rate(
            test.images, detector, metrics.DETECTION_PADDING)
    write_report(report, out)
    return report
