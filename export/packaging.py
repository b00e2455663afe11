"""A trained run as the pretrained model that ships inside ppgan-tf: float16 weights, the TFLite
generator, the check that neither loses anything measurable, and the model card (see export.package_model)."""

import json
import os
import shutil
import tempfile

import keras
import numpy as np

from export import blessing, savedmodel, tflite
from ppgan_tf import layout, packaged
from ppgan_tf.config import RunConfig
from ppgan_tf.data import manifest
from ppgan_tf.deidentify.backends import TFLiteGenerator
from ppgan_tf.evaluation import evaluate, photos
from ppgan_tf.faces import recognition
from ppgan_tf.models import recognisers
from ppgan_tf.seeds import noise_of_seeds_numpy
from ppgan_tf.training import ppgan, run, verificator_pretraining

MAX_SSIM_DROP = 0.005


def _judges():
    judges = [recognisers.load_recogniser("sface")]
    dlib = run.dlib_judge_or_none(log=lambda _: None)
    return judges + ([dlib] if dlib else [])


def add_portable_generator(candidate_dir):
    """Converts the package's own generator (its float16 weights) to TFLite float16 and adds it to the package."""
    generator = packaged.load_packaged_network("generator", candidate_dir)
    with tempfile.TemporaryDirectory() as portable_dir:
        savedmodel.portable_archive(generator).write_out(portable_dir, verbose=False)
        return packaged.add_portable_generator(tflite.convert(portable_dir, "float16"), candidate_dir)


def check_package(workdir, candidate_dir, max_faces, reference_generator, log=print):
    """The float32 generator against its package (float16 Keras, TFLite) on the run's test faces: parity per judge."""
    config = RunConfig.load(workdir)
    _, test = run.prepare_data(config, workdir, log=lambda _: None, save_split=False)
    test = evaluate.subsample_people(test, max_faces, config.seed)
    packaged_generator = packaged.load_packaged_network("generator", candidate_dir)
    seeds = np.arange(len(test.images), dtype=np.int64)
    outputs = {name: generator.deidentify(test.images, seeds)
               for name, generator in (("float32", reference_generator), ("float16", packaged_generator))}
    outputs["tflite_float16"] = TFLiteGenerator(packaged.portable_generator_path(candidate_dir))(
        test.images, noise_of_seeds_numpy(seeds, packaged_generator.noise_size))
    report = {"test_faces": len(seeds)}
    for judge in _judges():
        rows = {name: blessing.parity(outputs["float32"], fakes, test.images, judge.embed, judge.threshold)
                for name, fakes in outputs.items()}
        report[judge.name] = rows
        log(f"{judge.name}: " + "; ".join(
            f"{name} de-id {row['deid_rate']:.3f} SSIM {row['ssim']:.3f} max error {row['max_abs_error']}"
            for name, row in rows.items()))
    return report


def package_run(workdir, out, max_faces=600, evaluations=(), notes="", log=print, steps=()):
    """Packages WORKDIR's generator and verificator into `out`; returns (written, report).

    `evaluations`: whole-photo evaluation reports whose numbers go into the model card;
    `notes`: Markdown the card adds to its limits; `steps`: package G as the
    run's checkpoint of that step holds it instead of the finished run's G,
    or with several steps the mean of their checkpoints' G (`ppgan.average_generator`).
    """
    config = RunConfig.load(workdir)
    checkpoints = os.path.join(workdir, layout.CHECKPOINTS)
    if not steps:
        with open(os.path.join(workdir, layout.METRICS)) as f:
            step = json.load(f)["steps"]
        generator = keras.saving.load_model(os.path.join(workdir, layout.GENERATOR))
    elif len(steps) == 1:
        step, = steps
        generator = ppgan.restore_generator(config, checkpoints, step)
    else:
        step = max(steps)
        generator = ppgan.average_generator(config, checkpoints, steps)
    verificator, verificator_info = verificator_pretraining.load_verificator(run.verificator_dir(config, workdir))
    info = {
        "image_size": config.image_size,
        "channels": config.channels,
        "margin": recognition.CROP_MARGIN,  # prepare_data's default alignment margin, which the recipe uses
        "verificator_threshold": verificator_info["threshold"],
        "luminance_only": config.verif_grey,
        "verificator_test_accuracy": verificator_info["test_accuracy"],
        "trained_against": run.trained_against(config, verificator_info),
        # Dataset names, not this machine's paths: the package travels.
        "training_data": ",".join(manifest.source_name(part) for part in config.data.split(",") if part.strip()),
        "steps": step,
        "averaged_steps": sorted(steps) if len(steps) > 1 else [],
        "run_config": {**config.__dict__, "data": "", "verificator_dir": ""},
    }
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    candidate = tempfile.mkdtemp(prefix=".package-", dir=parent)
    try:
        packaged.write_packaged_model(generator, verificator, info, candidate)
        add_portable_generator(candidate)
        report = check_package(workdir, candidate, max_faces, generator, log)
        losses = [(f"{judge} {variant}", rows["float32"]["deid_rate"] - row["deid_rate"],
                   rows["float32"]["ssim"] - row["ssim"])
                  for judge, rows in report.items() if isinstance(rows, dict) for variant, row in rows.items()]
        refused = [f"{name}: de-id -{deid:.3f}, SSIM -{ssim:.3f}" for name, deid, ssim in losses
                   if blessing.loses_too_much_privacy(deid) or ssim > MAX_SSIM_DROP]
        if refused:
            log("the packaged generator loses too much, nothing packaged: " + "; ".join(refused))
            return False, report
        with open(os.path.join(candidate, packaged.REPORT_FILENAME), "w") as f:
            json.dump(report, f, indent=2)
        with open(os.path.join(candidate, packaged.CARD_FILENAME), "w") as f:
            f.write(model_card(packaged.load_info(candidate), report, evaluations, notes))
        backup = f"{out}.previous"
        if os.path.exists(out):
            shutil.rmtree(backup, ignore_errors=True)
            os.rename(out, backup)
        os.rename(candidate, out)
        shutil.rmtree(backup, ignore_errors=True)
        log(f"packaged {workdir} (step {step}) into {out}")
        return True, report
    finally:
        shutil.rmtree(candidate, ignore_errors=True)


def rewrite_card(out, evaluations=(), notes=""):
    """Rewrites the model card of the package in `out` from its model.json and package check; nothing else changes."""
    with open(os.path.join(out, packaged.REPORT_FILENAME)) as f:
        report = json.load(f)
    partial = os.path.join(out, f".{packaged.CARD_FILENAME}.partial")
    with open(partial, "w", encoding="utf-8") as f:
        f.write(model_card(packaged.load_info(out), report, evaluations, notes))
    os.replace(partial, os.path.join(out, packaged.CARD_FILENAME))


DATA_TERMS = {
    "lfw": "Labeled Faces in the Wild (Huang et al. 2007; deep funneled, Huang et al. 2012): research benchmark, "
           "photos belong to their owners",
    "utkface": "UTKFace (Zhang, Song & Qi, CVPR 2017): non-commercial research use only",
    "celeba": "CelebA (Liu et al., ICCV 2015): non-commercial research use only",
}


def _averaged(info):
    steps = info.get("averaged_steps")
    return f" (the mean of its weights at steps {', '.join(map(str, steps))})" if steps else ""


def model_card(info, package_report, evaluations=(), notes=""):
    """MODEL_CARD.md of a packaged model: what it is, its data and their terms, its judges' numbers, its limits."""
    sources = [part.strip() for part in info["training_data"].split(",") if part.strip()]
    lines = [
        "# PP-GAN de-identification model (ppgan-tf)", "",
        f"A PP-GAN generator (pix2pix U-Net, {info['image_size']} px, {info['channels']} channels) trained "
        f"{info['steps']} steps{_averaged(info)}, with its Light CNN-9 verificator (10-fold test accuracy "
        f"{info['verificator_test_accuracy']:.3f}). Weights stored as float16; the generator also as TFLite "
        "(the same float16 weights), which `ppgan-deidentify` runs."
        + (" It changes identity in the luminance (its verificator saw grey faces): the de-identifier pastes only "
           "the generated luminance and the photo keeps its colours." if info.get("luminance_only") else ""), "",
        "## Training data and their terms", "",
        *(f"- `{name}`: {DATA_TERMS.get(name, 'see its own licence')}" for name in sources),
        "", "Because of these terms the model is for **research use only**.", "",
        "## Recognisers it trained against", "",
        "The generator learnt from: " + (", ".join(info["trained_against"]) or "its own verificator only")
        + ". No evaluation below judges with these.", "",
        "## The packaged generator against the trained float32 one (same faces, same noise)", "",
        "| judge | generator | de-id | SSIM | max error (grey levels) | PSNR dB |",
        "|---|---|---|---|---|---|",
    ]
    for judge, rows in package_report.items():
        if isinstance(rows, dict):
            lines += [f"| {judge} | {variant} | {row['deid_rate']:.3f} | {row['ssim']:.3f} | {row['max_abs_error']} "
                      f"| {row['psnr_db']:.1f} |" for variant, row in rows.items()]
    for evaluation in evaluations:
        evaluation = {**evaluation, "model": f"this model (step {info['steps']})"}  # not the run's local path
        lines += ["", f"## Evaluation: {evaluation['dataset'] or 'held-out photos'}", "", photos.markdown_table(evaluation)]
    lines += [
        "", "## Limits", "",
        "- Faces are found by the detector (YuNet in `ppgan-deidentify`, MTCNN in the evaluations above); a face it "
        "misses is written unchanged (the photo is listed in the report).",
        "- Judged on held-out people of the datasets above; other populations, poses, resolutions and recognisers "
        "may differ. Privacy against a recogniser is only measured for the judges named.",
        *(["", "### Known limits of this model", "", notes.strip()] if notes.strip() else []),
        "", "## Files", "",
        *(f"- `{name}`: sha256 `{digest}`" for name, digest in sorted(info["sha256"].items())),
    ]
    return "\n".join(lines) + "\n"
