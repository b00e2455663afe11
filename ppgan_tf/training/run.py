"""Whole runs: data -> split -> (verificator) -> PP-GAN -> evaluation, in one work directory.

The `trainers/` entry points call these; everything a run makes lands in
its work directory, laid out as `ppgan_tf.layout` says.
"""

import json
import os
import shutil
import time

import numpy as np

from ppgan_tf import layout, metrics, packaged
from ppgan_tf.config import RunConfig, split_names
from ppgan_tf.data import images as face_images
from ppgan_tf.data import manifest, pipeline, split
from ppgan_tf.seeds import run_seeds
from ppgan_tf.training import attribute_probes, ppgan, runtime, verificator_pretraining

SAMPLE_FACES = 8


def prepare_data(config, workdir, log=print, save_split=True, records=None):
    """The run's train and test `FaceSet`s; bad files are skipped and reported.

    `records` replaces those of `config.data` (e.g. relabelled ones).
    """
    if records is None:
        records = manifest.load_records(config.data)
    train_records, test_records = split.split_for_run(records, config, workdir, save=save_split)
    sets = []
    for name, subset in (("train", train_records), ("test", test_records)):
        faces = face_images.load_faces(subset, config.image_size, config.channels, config.crop_fraction)
        people = len(set(faces.identities))
        log(f"{name}: {len(faces.records)} faces of {people} people from {config.data}")
        if faces.skipped:
            log(f"{name}: skipped {len(faces.skipped)} files: {faces.skip_summary()}")
            for key, problem in faces.skipped[:10]:
                log(f"  skipped {key}: {problem}")
        if not faces.records:
            raise ValueError(f"No usable {name} faces in {config.data}")
        sets.append(faces)
    return sets[0], sets[1]


def sample_indices(identities, count):
    """Up to `count` face indices taken round-robin across people, so a grid shows many."""
    queues = pipeline.indices_by_identity(identities)
    chosen = []
    while len(chosen) < count and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen


def face_repeats(records, config):
    """Visits per epoch of each face (`config.data_repeats`), or None when every face is visited once.

    A record's source is its `dataset` attribute (`manifest.combine_sources`), or the one source of `config.data`.
    """
    times = config.source_repeats()
    if not times:
        return None
    sources = [record.attribute("dataset") for record in records]
    if not all(sources):  # one source: its records carry no `dataset`, and its folder names it
        sources = [manifest.source_name(config.data)] * len(records)
    unknown = sorted(set(times) - set(sources))
    if unknown:
        raise ValueError(f"data_repeats={config.data_repeats!r}: no training faces from {unknown}; the sources are "
                         f"{sorted(set(sources))}")
    return [times.get(source, 1) for source in sources]


def skipped_files(*face_sets):
    return {key: problem for faces in face_sets for key, problem in faces.skipped}


def verificator_dir(config, workdir):
    return config.verificator_dir or os.path.join(workdir, layout.VERIFICATOR)


def load_verificator_info(config, workdir):
    """The info saved beside a run's verificator (threshold, accuracy, teachers), or {} if none yet."""
    path = os.path.join(verificator_dir(config, workdir), verificator_pretraining.INFO_FILENAME)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def pretrain_verificator(config, workdir, log=print):
    """Trains the verificator of a run into WORKDIR/verificator; returns its info."""
    runtime.set_precision(config.precision)
    config.save(workdir)
    train, test = prepare_data(config, workdir, log)
    return _train_verificator(config, workdir, train, test, log)


def verificator_from_package(directory, out_dir):
    """Saves a packaged model's verificator, with its threshold and teachers, as a run's verificator in `out_dir`.

    A run that starts from a packaged generator (`init_from`) goes on with the V it was packaged with instead of
    distilling a new one. Returns the info saved.
    """
    info = packaged.load_info(directory)
    teachers = split_names(info.get("run_config", {}).get("verificator_teachers", ""))
    verificator_info = {"threshold": info["verificator_threshold"], "test_accuracy": info["verificator_test_accuracy"],
                        "teachers": teachers, "from_package": os.path.abspath(directory)}
    verificator_pretraining.save_verificator(packaged.load_packaged_network("verificator", directory),
                                             verificator_info, out_dir)
    return verificator_info


def _train_verificator(config, workdir, train, test, log):
    """Pretrains V into WORKDIR/verificator, resumable from WORKDIR/verificator_checkpoints."""
    return verificator_pretraining.train_verificator(
        config, train, test, os.path.join(workdir, layout.VERIFICATOR), log,
        checkpoint_dir=os.path.join(workdir, layout.VERIFICATOR_CHECKPOINTS),
        log_dir=os.path.join(workdir, layout.LOGS, "verificator"),
    )


def _checkpoint_dir(workdir, chief):
    """Checkpoint folder of this process: non-chief workers write to a scratch copy."""
    if chief:
        return os.path.join(workdir, layout.CHECKPOINTS)
    task_type, index = runtime.worker_index()
    return os.path.join(workdir, f"scratch_{task_type}_{index}", layout.CHECKPOINTS)


def dlib_judge_or_none(log=print):
    """dlib's recogniser at its published threshold when the [eval] extra is installed, else None."""
    try:
        from ppgan_tf.faces.recognition import DlibRecogniser

        return DlibRecogniser()
    except ImportError as error:
        log(f"no dlib judge in metrics.json: {error}")
        return None


def evaluate_generator(trainer, verificator, threshold, faces_uint8, seed=0, judge=None, detector=None,
                       original_embeddings=None):
    """De-identification rates and SSIM of the generator on held-out faces, noise fixed.

    `deid_rate_own_verificator` is measured by the run's own V, which G
    trained against: it says what G learnt, not how private its faces are.
    Each pretrained recogniser G trained against gives `deid_rate_<name>` (at
    its published threshold); an independent `judge` (dlib) gives
    `deid_rate_<judge name>`; a `detector` (MTCNN) gives the share of outputs
    in which it finds a face, as they are and padded (`detection_rate`,
    `detection_rate_padded`): whether the outputs still look like faces.
    `original_embeddings` ({name: embeddings of `faces_uint8`}) spares
    embedding the same faces again (the monitor judges the same faces often).
    """
    noise_seeds = run_seeds(len(faces_uint8), seed)
    fakes = trainer.deidentify(faces_uint8, noise_seeds)
    ssim = metrics.ssim_of_uint8(faces_uint8, fakes)
    scorers = _scorers(trainer, verificator, threshold, judge)
    if original_embeddings is None:
        original_embeddings = _embed_originals(scorers, faces_uint8)
    rates = {
        f"deid_rate_{name}": metrics.deidentification_rate(original_embeddings[name], embed(fakes), limit)
        for name, embed, limit in scorers
    }
    if detector is not None:
        rates["detection_rate"] = metrics.detection_rate(fakes, detector)
        rates["detection_rate_padded"] = metrics.detection_rate(fakes, detector, metrics.DETECTION_PADDING)
    return {**rates, "ssim": float(np.mean(ssim)), "ssim_std": float(np.std(ssim))}


def _scorers(trainer, verificator, threshold, judge=None):
    """(name, embed function, threshold) of every network that judges G's faces in `evaluate_generator`."""
    scorers = [("own_verificator", lambda images: verificator_pretraining.embed(verificator, images), threshold)]
    scorers += [(name, recogniser.embed, recogniser.threshold)
                for name, recogniser in trainer.verificators.items() if name != "lightcnn"]
    if judge is not None:
        scorers.append((judge.name, judge.embed, judge.threshold))
    return scorers


def _embed_originals(scorers, faces_uint8):
    """{name: embeddings of `faces_uint8`} by every scorer of `_scorers`."""
    return {name: embed(faces_uint8) for name, embed, _ in scorers}


def generator_monitor(trainer, verificator, threshold, test, count, seed=0, judge=None):
    """A function of no arguments judging G on `count` held-out faces (many people), as `fit` calls it.

    MTCNN (for the detection rates) is made, and the faces embedded by every judge (all frozen), once; `judge`
    is the independent one (dlib) when installed.
    """
    from ppgan_tf.faces.detection import FaceDetector

    faces = test.images[sample_indices(test.identities, count)]
    detector = FaceDetector()
    originals = _embed_originals(_scorers(trainer, verificator, threshold, judge), faces)
    return lambda: evaluate_generator(trainer, verificator, threshold, faces, seed, judge=judge, detector=detector,
                                      original_embeddings=originals)


def load_verificators(config, verificator):
    """The networks L_verif uses, by name: the run's V as 'lightcnn', the pretrained recognisers as named."""
    from ppgan_tf.models import recognisers

    return {
        name: verificator if name == "lightcnn" else recognisers.load_recogniser(name)
        for name in split_names(config.verificators)
    }


def train_ppgan(config, workdir, log=print):
    """Runs PP-GAN end to end in `workdir` and returns the metrics it wrote.

    Loads the verificator named by the config (or the one in WORKDIR), or
    pretrains one first; resumes from the latest checkpoint.
    """
    started = time.time()
    precision = runtime.set_precision(config.precision)
    strategy = runtime.make_strategy(config.strategy)
    chief = runtime.is_chief()
    if chief:
        config.save(workdir)
    train, test = prepare_data(config, workdir, log, save_split=chief)
    repeats = face_repeats(train.records, config)
    if repeats:
        log(f"an epoch visits {sum(repeats)} faces: {config.data_repeats}, the other sources once")

    v_dir = verificator_dir(config, workdir)
    if not os.path.exists(os.path.join(v_dir, verificator_pretraining.INFO_FILENAME)):
        if config.verificator_dir:
            raise FileNotFoundError(f"verificator_dir={config.verificator_dir}: no trained verificator there")
        if not chief:
            raise RuntimeError("pretrain the verificator (trainers.train_verificator) before multi-worker runs")
        if config.init_from:
            log(f"taking the verificator of {config.init_from}")
            verificator_from_package(config.init_from, v_dir)
        else:
            log("no verificator given: pretraining one first")
            _train_verificator(config, workdir, train, test, log)
    with strategy.scope():
        verificator, verificator_info = verificator_pretraining.load_verificator(v_dir)

    checkpoint_dir = _checkpoint_dir(workdir, chief)
    with strategy.scope():
        verificators = load_verificators(config, verificator)
    probed = dict.fromkeys(split_names(config.preserve_attributes) + split_names(config.discriminator_condition)
                           + split_names(config.destination_group))
    attribute_labels = {name: [record.attribute(name) for record in train.records] for name in probed}
    trainer = ppgan.PPGANTrainer(config, verificators, strategy, checkpoint_dir, condition_classes={
        name: attribute_probes.known_classes(attribute_labels[name])
        for name in split_names(config.discriminator_condition)})
    if config.init_from and not trainer.checkpoint_manager.latest_checkpoint:
        log(f"starting from the generator of {config.init_from} at step {trainer.start_from_packaged(config.init_from)}")
    log(
        f"training {config.setting} for {config.steps} steps, batch {config.batch_size}, "
        f"{strategy.num_replicas_in_sync} replica(s), precision {precision}"
    )
    judge = dlib_judge_or_none(log) if chief else None  # one for the monitor and the final metrics
    monitor = None
    if chief and config.monitor_faces:
        monitor = generator_monitor(trainer, verificator, verificator_info["threshold"], test, config.monitor_faces,
                                    config.seed, judge)
    trained, images_per_second = trainer.fit(
        train.images, test.images[sample_indices(test.identities, SAMPLE_FACES)], workdir,
        chief=chief, log=log, monitor=monitor, repeats=repeats, attribute_labels=attribute_labels,
        identities=train.identities,
    )
    if not chief:
        shutil.rmtree(os.path.dirname(checkpoint_dir), ignore_errors=True)
        return {}

    evaluation = evaluate_generator(trainer, verificator, verificator_info["threshold"], test.images, config.seed,
                                    judge=judge)
    trainer.output_generator.save(os.path.join(workdir, layout.GENERATOR))
    results = {
        "verificator_test_accuracy": verificator_info["test_accuracy"],
        "verificator_threshold": verificator_info["threshold"],
        "trained_against": trained_against(config, verificator_info),
        **evaluation,
        "steps": int(trainer.step.numpy()),
        "steps_this_run": trained,
        "images_per_second": images_per_second,
        "wall_seconds": time.time() - started,
        "train_faces": len(train.records),
        "test_faces": len(test.records),
        "test_people": len(set(test.identities)),
        "skipped_files": skipped_files(train, test),
        "setting": config.setting,
        "precision": precision,
        "replicas": strategy.num_replicas_in_sync,
    }
    with open(os.path.join(workdir, layout.METRICS), "w") as f:
        json.dump(results, f, indent=2)
    return results


def trained_against(config, verificator_info):
    """The pretrained recognisers a run's generator learnt from, directly or through V's distillation.

    No evaluation may judge the run with these (ppgan_tf.evaluation refuses them).
    """
    direct = [name for name in split_names(config.verificators) if name != "lightcnn"]
    return sorted(set(direct) | set(verificator_info.get("teachers", [])))


def model_trained_against(model, default=()):
    """What a model to be judged learnt from: `trained_against` of a work directory, or the record of a packaged
    model folder (None: the shipped one); `default` for a model that keeps no record (a SavedModel, .tflite, .onnx).

    An evaluation takes this from the model it judges, not from the run whose held-out photos it uses: a model
    trained on from that run may have learnt from more recognisers.
    """
    if model is not None and layout.is_workdir(model):
        config = RunConfig.load(model)
        return trained_against(config, load_verificator_info(config, model))
    if model is None or os.path.exists(os.path.join(model, packaged.INFO_FILENAME)):
        return list(packaged.load_info(model)["trained_against"])
    return list(default)


def describe_workdir(workdir, results):
    """The closing lines of a run: its numbers and where everything is."""
    rates = {key[len("deid_rate_"):]: value for key, value in results.items() if key.startswith("deid_rate_")}
    lines = [
        f"de-identification rate {rates.pop('own_verificator'):.3f} against the run's own verificator "
        f"(what G trained against: not a privacy measure)",
        *(f"de-identification rate {rate:.3f} against {name}"
          + (" (trained against)" if name in results["trained_against"]
             else ", an independent judge at its published threshold")
          for name, rate in rates.items()),
        f"SSIM {results['ssim']:.3f}, verificator accuracy {results['verificator_test_accuracy']:.3f}, "
        f"{results['images_per_second']:.1f} images/s, {results['wall_seconds']:.0f} s",
        f"work directory: {os.path.abspath(workdir)}",
    ]
    for name, what in (
        (layout.CONFIG, "run config"),
        (layout.SPLIT, "train/test split"),
        (layout.VERIFICATOR, "frozen verificator + threshold"),
        (layout.CHECKPOINTS, "checkpoints (resume by rerunning)"),
        (layout.LOGS, f"TensorBoard: tensorboard --logdir {os.path.join(workdir, layout.LOGS)}"),
        (layout.SAMPLES, "sample grids (PNG)"),
        *([(layout.MONITOR, "held-out faces judged at every sample grid")]
          if os.path.exists(os.path.join(workdir, layout.MONITOR)) else []),
        (layout.GENERATOR, "final generator"),
        (layout.METRICS, "metrics"),
    ):
        lines.append(f"  {os.path.join(workdir, name):<48} {what}")
    return "\n".join(lines)
