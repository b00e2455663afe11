"""The paper's ablation: the four objectives trained on one split with one verificator, judged alike.

WORKDIR/verificator is shared; WORKDIR/<setting>/ holds each run; every run
is evaluated by the same FaceNet-style judge (trained once) and dlib, on the
same test faces; the baselines are evaluated once, beside `ppgan`. Writes
WORKDIR/ablation.json, ablation.md, tradeoff.png (paper Fig. 7: de-identification
rate against SSIM, the settings among the baselines), comparison.png (Fig. 8:
originals over each setting's faces) and deidentified.png (Fig. 6).
"""

import json
import os
import shutil

from ppgan_tf.evaluation import evaluate, judges, report
from ppgan_tf.losses import SETTINGS
from ppgan_tf.training import run, summaries

GRID_FACES = 8


def run_ablation(config, workdir, facenet_steps=1000, judge_names=judges.JUDGES, detector=None, max_faces=None,
                 group_by=(), attributes=(), log=print):
    """Trains (or resumes) and evaluates the four settings; returns the combined report.

    The verificator is `config.verificator_dir` if set, else trained once
    into WORKDIR/verificator. `judge_names`, `max_faces`, `group_by` and
    `attributes` are passed to `evaluate.evaluate_run`; groups and
    attributes for `ppgan` only.
    """
    from ppgan_tf.deidentify.backends import KerasBackend

    verificator_dir = run.verificator_dir(config, workdir)
    if not os.path.exists(os.path.join(verificator_dir, "verificator.json")):
        run.pretrain_verificator(config, workdir, log)
    _, test = run.prepare_data(config, workdir, log=lambda _: None)
    faces = test.images[run.sample_indices(test.identities, GRID_FACES)]
    reports, outputs = {}, {}
    shared_judge = None
    for setting in SETTINGS:
        subdir = os.path.join(workdir, setting)
        log(f"=== {setting} ===")
        run.train_ppgan(config.replace(setting=setting, verificator_dir=os.path.abspath(verificator_dir)), subdir, log)
        judge_dir = os.path.join(subdir, evaluate.EVALUATION_SUBDIR, "facenet_judge")
        if shared_judge and not os.path.exists(judge_dir):
            shutil.copytree(shared_judge, judge_dir)  # one judge for all four: comparable numbers
        full = setting == "ppgan"
        reports[setting] = evaluate.evaluate_run(
            subdir, facenet_steps, judge_names, detector, max_faces=max_faces, group_by=group_by if full else (),
            attributes=attributes if full else (), include_baselines=full, log=log,
        )
        shared_judge = judge_dir
        backend = KerasBackend(subdir)
        outputs[setting] = backend.generate(faces, backend.noise(range(len(faces))))

    full = reports["ppgan"]
    methods = {setting: reports[setting]["methods"]["ppgan"] for setting in SETTINGS}
    methods.update({name: row for name, row in full["methods"].items() if name != "ppgan"})
    # Everything the ppgan report says of the test faces and judges; the methods of all four settings.
    combined = {key: value for key, value in full.items() if key not in ("workdir", "setting")}
    combined["methods"] = methods
    with open(os.path.join(workdir, "ablation.json"), "w") as f:
        json.dump(combined, f, indent=2)
    with open(os.path.join(workdir, "ablation.md"), "w") as f:
        f.write(report.markdown_report(combined).replace("# Evaluation", "# Ablation: the four settings", 1))
    report.tradeoff_plot(combined, os.path.join(workdir, "tradeoff.png"))
    summaries.write_png(os.path.join(workdir, "comparison.png"),
                        summaries.comparison_grid(faces, *outputs.values(), columns=GRID_FACES))
    summaries.write_png(os.path.join(workdir, "deidentified.png"), summaries.comparison_grid(faces, outputs["ppgan"]))
    return combined
