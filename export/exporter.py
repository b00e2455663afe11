"""Exports a trained run: SavedModel, TFLite, ONNX, their parity report, blessing, model card."""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from export import blessing, onnx_model, savedmodel, tflite
from ppgan_tf import layout
from ppgan_tf.config import RunConfig, split_names
from ppgan_tf.deidentify import backends
from ppgan_tf.models import recognisers
from ppgan_tf.training import run, verificator_pretraining

FORMATS = ("savedmodel", "tflite", "onnx")
REPORT_FILENAME = "export_report.json"
CARD_FILENAME = "MODEL_CARD.md"


def _size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _training_judge(config, verificator, verificator_info):
    """(name, embed, threshold) of what G's identity term scored first: the run's V or a pretrained recogniser.

    A generator trained against SFace says nothing to the run's V (the shipped
    recipe: 0.005 de-identification by V), so parity is judged by SFace there.
    """
    name = split_names(config.verificators)[0]
    if name == "lightcnn":
        return name, lambda images: verificator_pretraining.embed(verificator, images), verificator_info["threshold"]
    recogniser = recognisers.load_recogniser(name)
    return name, recogniser.embed, recogniser.threshold


def export_run(workdir, formats=FORMATS, model_name="ppgan", thresholds=None, push_to=None,
               max_faces=64, tflite_variants=tflite.VARIANTS, log=print):
    """Exports WORKDIR's generator into WORKDIR/export and checks every artefact.

    Returns the report written to WORKDIR/export/export_report.json.
    """
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"Unknown formats {sorted(unknown)}: choose from {FORMATS}")
    unknown = set(tflite_variants) - set(tflite.VARIANTS)
    if unknown:
        raise ValueError(f"Unknown TFLite variants {sorted(unknown)}: choose from {tflite.VARIANTS}")
    thresholds = thresholds or blessing.Thresholds()
    if push_to:
        if "savedmodel" not in formats:
            raise ValueError("--push_to needs the savedmodel format")
        blessing.check_push_target(push_to, model_name)  # before the work, not after it
    config = RunConfig.load(workdir)
    out = os.path.join(workdir, layout.EXPORT)
    version = int(time.time())

    # === The trained model, in float32 ===
    shape = (config.image_size, config.image_size, config.channels)
    generator = savedmodel.float32_copy(keras.saving.load_model(os.path.join(workdir, layout.GENERATOR)), shape)
    verificator, verificator_info = verificator_pretraining.load_verificator(run.verificator_dir(config, workdir))
    train, test = run.prepare_data(config, workdir, log=lambda _: None)
    faces = test.images[:max_faces]
    noise = generator.noise_from_seeds(tf.range(len(faces), dtype=tf.int64)).numpy()
    reference = generator.deidentify(faces, noise=noise)
    judge, embed, threshold = _training_judge(config, verificator, verificator_info)
    reference_scores = blessing.score(faces, reference, embed, threshold)
    log(f"keras float32: deid_rate by {judge} {reference_scores['deid_rate']:.3f}, ssim {reference_scores['ssim']:.3f} "
        f"on {len(faces)} test faces")

    rows, files = {}, {}

    # === SavedModel for TF Serving ===
    portable_dir = os.path.join(out, "portable_savedmodel")
    savedmodel.portable_archive(generator).write_out(portable_dir, verbose=False)
    serving_dir = os.path.join(out, "savedmodel", model_name, str(version))
    if "savedmodel" in formats:
        savedmodel.serving_archive(generator, savedmodel.float32_copy(verificator, shape)).write_out(
            serving_dir, verbose=False
        )
        savedmodel.write_warmup(serving_dir, model_name, faces[:4])
        layout.write_export_info(serving_dir, {
            "image_size": config.image_size, "channels": config.channels,
            "noise_size": generator.noise_size, "verificator_threshold": verificator_info["threshold"],
            "luminance_only": config.verif_grey,
        })
        with open(os.path.join(out, "models.config"), "w") as f:
            f.write(savedmodel.models_config(model_name, f"/models/{model_name}"))
        loaded = tf.saved_model.load(serving_dir).signatures["deidentify_with_seed"]
        output = loaded(images=tf.constant(faces), seeds=tf.range(len(faces), dtype=tf.int64))["deidentified"].numpy()
        rows["savedmodel"] = blessing.parity(reference, output, faces, embed, threshold)
        files["savedmodel"] = serving_dir

    # === TFLite, four ways ===
    if "tflite" in formats:
        contract = tflite.input_contract(generator)
        calibration_faces = train.images[np.random.default_rng(0).permutation(len(train.images))[:100]]
        representative = [
            {"images": calibration_faces[i:i + 1], "noise": np.random.default_rng(i).random((1, generator.noise_size), np.float32)}
            for i in range(len(calibration_faces))
        ]
        for variant in tflite_variants:
            path = tflite.write_variant(portable_dir, os.path.join(out, "tflite"), variant, contract,
                                        representative if variant == "full_int8" else None)
            output = backends.TFLiteGenerator(path)(faces, noise)
            rows[f"tflite_{variant}"] = blessing.parity(reference, output, faces, embed, threshold)
            files[f"tflite_{variant}"] = path

    # === ONNX ===
    if "onnx" in formats:
        path = onnx_model.write(portable_dir, os.path.join(out, "onnx", f"{model_name}.onnx"),
                                config.image_size, config.channels, generator.noise_size)
        rows["onnx"] = blessing.parity(reference, backends.OnnxGenerator(path)(faces, noise), faces, embed, threshold)
        files["onnx"] = path

    for name, path in files.items():
        rows[name]["bytes"] = _size(path)
        rows[name]["path"] = os.path.relpath(path, workdir)
    blessed, reasons = blessing.bless(reference_scores, rows, thresholds)
    report = {
        "model_name": model_name,
        "version": version,
        "faces": len(faces),
        "verificator_threshold": verificator_info["threshold"],
        "judge": judge,
        "judge_threshold": threshold,
        "reference": reference_scores,
        "formats": rows,
        "thresholds": vars(thresholds),
        "blessed": blessed,
        "reasons": reasons,
    }
    if "savedmodel" in formats:  # clients (ppgan-deidentify) take the newest blessed version only
        layout.write_export_info(serving_dir, {**layout.read_export_info(serving_dir), "blessed": blessed})
    if push_to:
        try:
            report["pushed_to"] = blessing.push(serving_dir, push_to, model_name, blessed, reasons)
        except (blessing.PushRefused, OSError) as refusal:
            report["push_refused"] = str(refusal)
    with open(os.path.join(out, REPORT_FILENAME), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, CARD_FILENAME), "w") as f:
        f.write(model_card(config, workdir, report, generator))
    return report


def format_table(report):
    """The report as a printable table, one row per artefact."""
    lines = [f"{'format':<20}{'max|err|':>9}{'PSNR dB':>9}{'deid':>7}{'SSIM':>7}{'MB':>8}"]
    ref = report["reference"]
    lines.append(f"{'keras float32':<20}{0:>9}{'inf':>9}{ref['deid_rate']:>7.3f}{ref['ssim']:>7.3f}{'':>8}")
    for name, row in report["formats"].items():
        lines.append(
            f"{name:<20}{row['max_abs_error']:>9}{row['psnr_db']:>9.1f}{row['deid_rate']:>7.3f}"
            f"{row['ssim']:>7.3f}{row['bytes'] / 1e6:>8.2f}"
        )
    verdict = "BLESSED" if report["blessed"] else "NOT BLESSED: " + "; ".join(report["reasons"])
    lines.append(verdict)
    if "pushed_to" in report:
        lines.append(f"pushed to {report['pushed_to']}")
    if "push_refused" in report:
        lines.append(report["push_refused"])
    return "\n".join(lines)


def _judge_words(report):
    judge = report.get("judge", "lightcnn")
    return "that verificator" if judge == "lightcnn" else f"{judge} (which the generator trained against)"


def model_card(config, workdir, report, generator):
    """A model card in Markdown: what the model is, was trained on, measured, and is not for."""
    with open(os.path.join(workdir, layout.METRICS)) as f:
        trained = json.load(f)
    rows = "\n".join(
        f"| {name} | {row['path']} | {row['bytes'] / 1e6:.2f} MB | {row['max_abs_error']} | {row['psnr_db']:.1f} | "
        f"{row['deid_rate']:.3f} | {row['ssim']:.3f} |"
        for name, row in report["formats"].items()
    )
    colour = "grey" if config.channels == 1 else "RGB"
    return f"""# Model card: {report['model_name']} version {report['version']}

PP-GAN generator (Wu, Yang & Ling, "Privacy-Protective-GAN for Face De-identification") trained with ppgan-tf.

## Model
- U-Net generator, {config.image_size}x{config.image_size} {colour} aligned faces in and out, noise of
  {generator.noise_size} uniform values (two dropout layers); {generator.count_params():,} parameters.
- Objective `{config.setting}`: lambda_verif {config.lambda_verif}, lambda_sim {config.lambda_sim};
  {trained['steps']} steps of batch {config.batch_size}, Adam {config.learning_rate}, precision {trained['precision']}.
- Full configuration: `config.json` of the work directory.

## Training data
- Source `{config.data}`; split by {config.split_unit}, {config.test_fraction:.0%} held out (seed {config.seed}):
  {trained['train_faces']} training faces, {trained['test_faces']} test faces of {trained['test_people']} unseen people.

## Metrics (test faces, fixed noise)
- Training verificator: test accuracy {trained['verificator_test_accuracy']:.3f} at distance threshold
  {report['verificator_threshold']:.3f} (10-fold).
- Keras float32: de-identification rate {report['reference']['deid_rate']:.3f} against {_judge_words(report)}, SSIM
  {report['reference']['ssim']:.3f}, on {report['faces']} faces.

| format | file | size | max abs error | PSNR dB | de-id rate | SSIM |
|---|---|---|---|---|---|---|
{rows}

Blessed: {'yes' if report['blessed'] else 'no: ' + '; '.join(report['reasons'])}
(thresholds: de-id rate >= {report['thresholds']['min_deid_rate']}, SSIM >= {report['thresholds']['min_ssim']},
no format more than {blessing.MAX_DEID_DROP:.0%} below float32).

## Intended use
Replacing faces in photos and videos with different-looking faces before they are stored, shared or published,
keeping pose, expression and lighting, so that face recognisers no longer link them to the person.

## Limitations
- The de-identification rate above is measured with the verificator the generator trained against. It says what
  the generator learnt, not how private its faces are to other recognisers: evaluate with independent judges
  before relying on it.
- Trained on {trained['train_faces']} faces from `{config.data}`: faces unlike them (age, skin tone, pose,
  lighting, occlusion, image quality) may be de-identified less well.
- Works on aligned {config.image_size}x{config.image_size} crops only (5-point template); a face that was not
  detected is not de-identified.
- A de-identified face can still carry identity through context (clothes, hair, tattoos, surroundings).
"""
