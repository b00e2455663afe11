import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import synthetic_face, tiny_config
from ppgan_tf.models import LightCNN9
from ppgan_tf.training import ppgan, run, runtime, verificator_pretraining


def _faces(count=8, size=32):
    return np.stack([synthetic_face(i % 4, i, size)[:, :, None] for i in range(count)])


def _batch(config, faces):
    dataset = ppgan.pipeline.gan_dataset(faces, config.batch_size, seed=config.seed)
    return next(iter(dataset))


def _verificator(config, seed=1):
    keras.utils.set_random_seed(seed)  # seeded: which faces a probe misreads (some must) follows its embeddings
    verificator = LightCNN9(channels=config.channels, width=config.verificator_width,
                            embedding_dim=config.embedding_dim)
    verificator(tf.zeros([1, config.image_size, config.image_size, config.channels]))
    return verificator


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


def test_one_step_changes_g_and_d_and_leaves_v_untouched(tmp_path):
    config = tiny_config()
    verificator = _verificator(config)
    trainer = ppgan.PPGANTrainer(config, verificator, tf.distribute.get_strategy(), str(tmp_path))
    before = [_weights(m) for m in (trainer.generator, trainer.discriminator, verificator)]
    terms = trainer.train_step(_batch(config, _faces()))
    after = [_weights(m) for m in (trainer.generator, trainer.discriminator, verificator)]
    for name, b, a in zip("GD", before[:2], after[:2]):
        assert any(np.abs(x - y).max() > 0 for x, y in zip(b, a)), f"{name} did not change"
    for x, y in zip(before[2], after[2]):
        np.testing.assert_array_equal(x, y)
    assert set(terms) == set(ppgan.LOSS_TERMS)
    assert all(np.isfinite(float(v)) for v in terms.values())
    assert 0.0 <= float(terms["discriminator_accuracy"]) <= 1.0
    assert int(trainer.step.numpy()) == 1


@pytest.mark.parametrize("setting", ["cgan", "cgan_sim", "cgan_verif"])
def test_every_setting_trains(tmp_path, setting):
    config = tiny_config(setting=setting)
    trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path))
    terms = trainer.train_step(_batch(config, _faces()))
    expected = float(terms["adversarial"])
    if setting == "cgan_sim":
        expected += config.lambda_sim * float(terms["sim"])
    if setting == "cgan_verif":
        expected += config.lambda_verif * float(terms["verif"])
    np.testing.assert_allclose(float(terms["generator_total"]), expected, rtol=1e-5)


def test_the_shading_term_joins_the_generator_loss_only_when_weighted(tmp_path):
    faces = _faces()
    for weight in (0.0, 5.0):
        config = tiny_config(lambda_shading=weight, shading_sigma=2.0)
        trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(),
                                     str(tmp_path / str(weight)))
        terms = {name: float(value) for name, value in trainer.train_step(_batch(config, faces)).items()}
        assert (terms["shading"] > 0) == bool(weight)
        expected = (terms["adversarial"] + terms["lambda_verif"] * terms["verif"] + config.lambda_sim * terms["sim"]
                    + weight * terms["shading"])
        np.testing.assert_allclose(terms["generator_total"], expected, rtol=1e-5)


def test_the_attribute_term_holds_the_probes_reading_and_joins_the_loss_only_when_weighted(tmp_path):
    faces = _faces()
    labels = {"gender": ["female" if i % 4 < 2 else "male" for i in range(len(faces))]}
    for weight in (0.0, 2.0):
        config = tiny_config(lambda_attributes=weight, preserve_attributes="gender" if weight else "", steps=1)
        trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(),
                                     str(tmp_path / str(weight)))
        lines = []
        (tmp_path / str(weight)).mkdir()
        trainer.fit(faces, faces[:2], str(tmp_path / str(weight)), log=lines.append, attribute_labels=labels)
        assert len(trainer.attribute_probes) == int(bool(weight))
        if weight:
            probe, = trainer.attribute_probes
            assert probe.attribute == "gender" and probe.classes == ("female", "male")
            assert any(line.startswith("L_attr probe of gender") for line in lines)
        terms = {name: float(value) for name, value in trainer.train_step(_batch(config, faces)).items()}
        assert (terms["attributes"] > 0) == bool(weight)
        expected = (terms["adversarial"] + terms["lambda_verif"] * terms["verif"] + config.lambda_sim * terms["sim"]
                    + weight * terms["attributes"])
        np.testing.assert_allclose(terms["generator_total"], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="lambda_attributes"):
        tiny_config(lambda_attributes=1.0).validate()
    with pytest.raises(ValueError, match="balance_attributes needs preserve_attributes"):
        tiny_config(balance_attributes=True).validate()


def test_d_conditioned_on_attributes_reads_each_real_face_with_its_probe(tmp_path):
    faces = np.repeat(_faces(), 3, axis=-1)
    labels = {"gender": ["female" if i % 4 < 2 else "male" for i in range(len(faces))],
              "race": [("asian", "black", "white")[i % 3] for i in range(len(faces))]}
    config = tiny_config(channels=3, discriminator_backbone="sface", discriminator_condition="race", steps=1,
                         preserve_attributes="gender", lambda_attributes=0.5)
    classes = {"race": ("asian", "black", "white")}
    trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path),
                                 condition_classes=classes)
    assert trainer.discriminator.condition_size == 3
    (tmp_path / "run").mkdir()
    lines = []
    trainer.fit(faces, faces[:2], str(tmp_path / "run"), log=lines.append, attribute_labels=labels)
    assert [probe.attribute for probe in trainer.attribute_probes] == ["gender", "race"]
    assert any(line.startswith("D's condition probe of race") for line in lines)
    assert any(line.startswith("L_attr probe of gender") for line in lines)
    batch = _batch(config, faces)
    condition = trainer._condition(batch["images"], batch).numpy()
    assert condition.shape == (len(batch["images"]), 3)  # race only: gender is L_attr's, not a condition
    np.testing.assert_allclose(condition.sum(axis=1), 1.0, rtol=1e-5)
    terms = trainer.train_step(batch)
    assert float(terms["attributes"]) > 0.0 and np.isfinite(float(terms["discriminator"]))
    with pytest.raises(ValueError, match="fewer than two classes given"):
        ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path / "x"))
    with pytest.raises(ValueError, match="needs a projected D"):
        tiny_config(discriminator_condition="race").validate()


def test_destinations_are_other_people_of_the_group_labelled_or_read_and_pull_g_of_x(tmp_path):
    faces = np.repeat(_faces(16), 3, axis=-1)
    identities = [f"p{i % 8}" for i in range(len(faces))]
    # Every fifth face's gender unknown: its group is the probe's reading, the others' their label.
    labels = {"gender": ["" if i % 5 == 0 else "female" if i % 4 < 2 else "male" for i in range(len(faces))]}
    config = tiny_config(channels=3, steps=1, destination_group="gender", lambda_destination=2.0,
                         destination_margin=0.0)
    trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path))
    (tmp_path / "run").mkdir()
    with pytest.raises(ValueError, match="identities"):
        trainer.fit(faces, faces[:2], str(tmp_path / "run"), log=print, attribute_labels=labels)
    lines = []
    trainer.fit(faces, faces[:2], str(tmp_path / "run"), log=lines.append, attribute_labels=labels,
                identities=identities)
    assert any(line.startswith("L_dest probe of gender") for line in lines)
    assert any(line.startswith("L_dest destinations drawn") for line in lines)
    probe, = trainer.attribute_probes
    table = trainer._cached_real_embeddings["lightcnn"].numpy()[0::2]
    reading = [probe.classes[k] for k in np.argmax(probe.logits(table).numpy(), axis=-1)]
    group = [label or read for label, read in zip(labels["gender"], reading)]
    assert group != reading and group != labels["gender"]  # both sources decide some faces' groups
    destinations = trainer.destination_faces.numpy()
    groups = trainer.choose_destinations(identities, labels)
    np.testing.assert_array_equal(trainer.destination_faces.numpy(), destinations)  # seeded
    assert groups == {g: (group.count(g), group.count(g)) for g in sorted(set(group))}  # confidence 0: all

    def candidates(face):  # other people's faces of x's group, or any other person's when the group has none
        others = [j for j in range(len(faces)) if identities[j] != identities[face]]
        return [j for j in others if group[j] == group[face]] or others

    for face, destination in enumerate(destinations):
        assert identities[destination] != identities[face]
        assert destination in candidates(face)
    batch = _batch(config, faces)
    terms = {name: float(value) for name, value in trainer.train_step(batch).items()}
    assert terms["destination"] > 0.0
    expected = (terms["adversarial"] + terms["lambda_verif"] * terms["verif"] + config.lambda_sim * terms["sim"]
                + config.lambda_destination * terms["destination"])
    np.testing.assert_allclose(terms["generator_total"], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="one person"):
        trainer.choose_destinations(["p0"] * len(faces))
    # With every face a candidate, each destination is the same-group face of another person farthest from x.
    trainer.config = config.replace(destination_candidates=len(faces))
    trainer.choose_destinations(identities, labels)
    for face, destination in enumerate(trainer.destination_faces.numpy()):
        distances = np.linalg.norm(table[candidates(face)] - table[face], axis=-1)
        np.testing.assert_allclose(np.linalg.norm(table[destination] - table[face]), np.max(distances), rtol=1e-6)
    # With destination_confidence, the farthest face the probe reads as its group's with at least that probability.
    probability = tf.nn.softmax(probe.logits(table)).numpy()[np.arange(len(faces)),
                                                              [probe.classes.index(g) for g in group]]
    threshold = float(np.median(probability))
    trainer.config = config.replace(destination_candidates=len(faces), destination_confidence=f"gender:{threshold}")
    groups = trainer.choose_destinations(identities, labels)
    assert groups == {g: (group.count(g), sum(probability[j] >= threshold for j in range(len(faces)) if group[j] == g))
                      for g in sorted(set(group))}
    filtered = 0
    for face, destination in enumerate(trainer.destination_faces.numpy()):
        typical = [j for j in candidates(face) if probability[j] >= threshold] or candidates(face)
        filtered += len(typical) < len(candidates(face))
        distances = np.linalg.norm(table[typical] - table[face], axis=-1)
        np.testing.assert_allclose(np.linalg.norm(table[destination] - table[face]), np.max(distances), rtol=1e-6)
    assert filtered


def test_balance_attributes_weighs_the_minority_class_up_in_the_probe_the_step_uses(tmp_path):
    faces = _faces()
    labels = ["female" if i % 4 == 0 else "male" for i in range(len(faces))]  # a quarter women
    config = tiny_config(lambda_attributes=1.0, preserve_attributes="gender", balance_attributes=True, steps=1)
    trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path))
    trainer.cache_real_embeddings(faces)
    probe, = trainer.fit_attribute_probes({"gender": labels})
    women = np.mean(np.array(labels) == "female")
    np.testing.assert_allclose(probe.class_weights, [0.5 / women, 0.5 / (1 - women)], rtol=1e-5)
    assert probe.class_weights[0] > 1.0 > probe.class_weights[1]


@pytest.fixture
def mixed_bfloat16():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_dtype_policy("float32")


def test_mixed_precision_step_runs_and_g_outputs_float32(tmp_path, mixed_bfloat16):
    config = tiny_config(precision="mixed_bfloat16")
    trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path))
    assert trainer.generator.encoder_blocks[0].layers[0].compute_dtype == "bfloat16"
    batch = _batch(config, _faces())
    terms = trainer.train_step(batch)
    assert all(np.isfinite(float(v)) for v in terms.values())
    out = trainer.generator(batch["images"], noise_seeds=batch["noise_seeds"])
    assert out.dtype == tf.float32
    assert trainer.generator.weights[0].dtype == "float32"  # variables stay float32


def test_float16_uses_a_loss_scale_optimizer(tmp_path):
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        config = tiny_config(precision="mixed_float16")
        trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path))
        assert isinstance(trainer.generator_optimizer, keras.optimizers.LossScaleOptimizer)
        terms = trainer.train_step(_batch(config, _faces()))
        assert np.isfinite(float(terms["generator_total"]))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


@pytest.mark.parametrize("cpuinfo, expected", [
    ("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n", True),
    ("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n", False),
    ("processor\t: 0\nFeatures\t: fp asimd sve bf16\n", True),
    (None, False),
])
def test_cpu_bfloat16_support_is_read_from_the_cpu_flags(tmp_path, cpuinfo, expected):
    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text(cpuinfo)
    assert runtime.cpu_has_bfloat16(str(path)) is expected


@pytest.mark.parametrize("bfloat16_cpu, expected", [(True, "mixed_bfloat16"), (False, "float32")])
def test_auto_precision_uses_bfloat16_only_on_a_cpu_that_computes_in_it(monkeypatch, bfloat16_cpu, expected):
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("auto picks mixed_float16 on a GPU")
    monkeypatch.setattr(runtime, "cpu_has_bfloat16", lambda: bfloat16_cpu)
    try:
        assert runtime.set_precision("auto") == expected
        assert keras.mixed_precision.dtype_policy().name == expected
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def test_checkpoint_restores_weights_optimizers_and_step(tmp_path):
    config = tiny_config()
    verificator = _verificator(config)
    strategy = tf.distribute.get_strategy()
    trainer = ppgan.PPGANTrainer(config, verificator, strategy, str(tmp_path))
    batch = _batch(config, _faces())
    trainer.train_step(batch)
    trainer.save_checkpoint()
    saved = _weights(trainer.generator) + _weights(trainer.discriminator)
    fresh = ppgan.PPGANTrainer(config.replace(seed=1), verificator, strategy, str(tmp_path))
    assert fresh.restore_latest() == 1
    for x, y in zip(saved, _weights(fresh.generator) + _weights(fresh.discriminator)):
        np.testing.assert_array_equal(x, y)
    assert int(fresh.generator_optimizer.iterations.numpy()) == 1
    # The next step from the restored state equals the next step of the original.
    np.testing.assert_allclose(
        float(trainer.train_step(batch)["generator_total"]),
        float(fresh.train_step(batch)["generator_total"]),
        rtol=1e-5,
    )


def test_a_new_run_starts_from_a_packaged_generator_and_its_step(tmp_path):
    from ppgan_tf import packaged

    config = tiny_config()
    verificator = _verificator(config)
    strategy = tf.distribute.get_strategy()
    source = ppgan.PPGANTrainer(config, verificator, strategy, str(tmp_path / "source"))
    source.train_step(_batch(config, _faces()))
    package = str(tmp_path / "package")
    packaged.write_packaged_model(source.generator, verificator,
                                  {"image_size": config.image_size, "channels": config.channels, "steps": 7,
                                   "verificator_threshold": 0.9, "verificator_test_accuracy": 0.8,
                                   "run_config": {"verificator_teachers": "sface"}}, package)
    started = ppgan.PPGANTrainer(config.replace(seed=1), verificator, strategy, str(tmp_path / "run"))
    assert started.start_from_packaged(package) == 7
    for x, y in zip(_weights(source.generator), _weights(started.generator)):
        np.testing.assert_allclose(x, y, rtol=1e-3, atol=1e-7)  # stored as float16
    assert int(started.generator_optimizer.iterations.numpy()) == 0  # the optimisers start fresh
    assert ppgan.PPGANTrainer(config, verificator, strategy, str(tmp_path / "run")).restore_latest() == 7
    wider = ppgan.PPGANTrainer(config.replace(generator_base_filters=2 * config.generator_base_filters), verificator,
                               strategy, str(tmp_path / "wider"))
    with pytest.raises(ValueError, match="init_from"):
        wider.start_from_packaged(package)
    # ... and goes on with the packaged V, its threshold and teachers, instead of distilling one.
    info = run.verificator_from_package(package, str(tmp_path / "run" / "verificator"))
    taken, taken_info = verificator_pretraining.load_verificator(str(tmp_path / "run" / "verificator"))
    assert taken_info == info and info["threshold"] == 0.9 and info["teachers"] == ["sface"]
    faces = tf.constant(_faces(4, config.image_size), tf.float32) / 127.5 - 1.0
    np.testing.assert_allclose(taken(faces), verificator(faces), atol=2e-2)  # float16 weights


def test_the_generator_of_a_chosen_checkpoint_is_restored(tmp_path):
    config = tiny_config()
    trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path))
    batch = _batch(config, _faces())
    weights = {}
    for step in (1, 2):
        trainer.train_step(batch)
        trainer.save_checkpoint()
        weights[step] = _weights(trainer.generator)
    restored = _weights(ppgan.restore_generator(config, str(tmp_path), 1))
    for x, y in zip(weights[1], restored):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(weights[2], restored))
    with pytest.raises(FileNotFoundError, match=r"step 5 \(kept: \[1, 2\]\)"):
        ppgan.restore_generator(config, str(tmp_path), 5)
    averaged = _weights(ppgan.average_generator(config, str(tmp_path), [1, 2]))
    for x, y, mean in zip(weights[1], weights[2], averaged):
        np.testing.assert_allclose((x + y) / 2 if keras.backend.is_float_dtype(x.dtype) else y, mean, rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="step 5"):
        ppgan.average_generator(config, str(tmp_path), [1, 5])


def test_the_moving_average_of_g_follows_it_is_checkpointed_and_is_what_a_run_outputs(tmp_path):
    decay = 0.75
    config = tiny_config()
    verificator, strategy, batch = _verificator(config), tf.distribute.get_strategy(), _batch(config, _faces())
    plain = ppgan.PPGANTrainer(config, verificator, strategy, str(tmp_path / "plain"))
    plain.train_step(batch)
    plain.save_checkpoint()  # a run that kept no average ...
    resumed = ppgan.PPGANTrainer(config.replace(generator_average_decay=decay), verificator, strategy,
                                 str(tmp_path / "plain"))
    assert resumed.restore_latest() == 1  # ... resumed with one starts it from G
    average = _weights(resumed.generator)
    for x, y in zip(average, _weights(resumed.generator_average)):
        np.testing.assert_array_equal(x, y)
    for _ in range(2):
        resumed.train_step(batch)
        weights = _weights(resumed.generator)
        average = [decay * a + (1 - decay) * w if keras.backend.is_float_dtype(w.dtype) else w
                   for a, w in zip(average, weights)]
        for x, y in zip(average, _weights(resumed.generator_average)):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, w) for a, w in zip(average, weights))  # it lags G
    resumed.save_checkpoint()
    kept = _weights(resumed.generator_average)
    again = ppgan.PPGANTrainer(resumed.config, verificator, strategy, str(tmp_path / "plain"))
    assert again.restore_latest() == 3
    packaged_checkpoint = ppgan.restore_generator(resumed.config, str(tmp_path / "plain"), 3)
    for model in (again.generator_average, packaged_checkpoint):
        for x, y in zip(kept, _weights(model)):
            np.testing.assert_array_equal(x, y)
    faces, seeds = _faces(2, config.image_size), np.arange(2)
    np.testing.assert_array_equal(resumed.deidentify(faces, seeds), resumed.generator_average.deidentify(faces, seeds))
    assert not np.array_equal(resumed.deidentify(faces, seeds), resumed.generator.deidentify(faces, seeds))
    with pytest.raises(ValueError, match="generator_average_decay"):
        config.replace(generator_average_decay=1.0).validate()


def _one_step(config, faces, verificator, directory):
    """(trainer, its first step's terms as floats) of `config`, from seed 0: variants of a config compare."""
    keras.utils.set_random_seed(0)
    trainer = ppgan.PPGANTrainer(config, verificator, tf.distribute.get_strategy(), str(directory))
    return trainer, {key: float(value) for key, value in trainer.train_step(_batch(config, faces)).items()}


@pytest.mark.parametrize("base, change", [({}, {"verif_views": True}), ({}, {"verif_revert_share": 1.0}),
                                          ({"channels": 3}, {"verif_grey": True})])
def test_what_v_scores_changes_the_verif_term_only(tmp_path, base, change):
    config = tiny_config(setting="ppgan", **base)
    faces = _faces()
    if config.channels == 3:  # tinted, so that grey differs from colour
        faces = (faces * np.array([1.0, 0.8, 0.5])).astype(np.uint8)
    verificator = _verificator(config)
    terms = {name: _one_step(changed, faces, verificator, tmp_path / name)[1]
             for name, changed in (("plain", config), ("changed", config.replace(**change)))}
    assert terms["changed"]["verif"] != terms["plain"]["verif"]
    for key in ("adversarial", "sim", "discriminator"):
        np.testing.assert_allclose(terms["changed"][key], terms["plain"][key], rtol=1e-5)


class _CountingVerificator:
    """A frozen verificator that counts the batches it is asked to embed (while the step is traced)."""

    def __init__(self, verificator):
        self.verificator, self.trainable, self.calls = verificator, False, 0

    def __call__(self, faces, training=False):
        self.calls += 1
        return self.verificator(faces, training=training)


@pytest.mark.parametrize("base", [{}, {"channels": 3, "verif_grey": True}])
def test_cached_real_embeddings_give_the_same_step_without_embedding_the_real_faces(tmp_path, base):
    config = tiny_config(setting="ppgan", batch_size=8, **base)
    faces = _faces()
    if config.channels == 3:
        faces = (faces * np.array([1.0, 0.8, 0.5])).astype(np.uint8)
    batch = _batch(config, faces)
    assert batch["flipped"].numpy().any() and not batch["flipped"].numpy().all()
    verificator = _verificator(config)
    terms = {}
    for name in ("live", "cached"):
        counting = _CountingVerificator(verificator)
        keras.utils.set_random_seed(0)
        trainer = ppgan.PPGANTrainer(config, counting, tf.distribute.get_strategy(), str(tmp_path / name))
        if name == "cached":
            trainer.cache_real_embeddings(faces, batch_size=3)  # batches that split a face from nothing
            counting.calls = 0
        terms[name] = {key: float(value) for key, value in trainer.train_step(batch).items()}
        assert counting.calls == (2 if name == "live" else 1)  # the generated faces, and the real ones if live
    for key in ("verif", "generator_total", "sim", "adversarial"):
        np.testing.assert_allclose(terms["cached"][key], terms["live"][key], rtol=1e-5, atol=1e-6)


def test_stored_real_embeddings_are_reused_only_for_the_same_faces_and_verificator(tmp_path):
    config = tiny_config(setting="ppgan")
    faces, path = _faces(), str(tmp_path / "real_embeddings.npz")

    def cache(verificator, images):
        trainer = ppgan.PPGANTrainer(config, {"lightcnn": verificator}, tf.distribute.get_strategy(), str(tmp_path))
        return trainer.cache_real_embeddings(images, path=path), trainer._embed_with_mirrors("lightcnn", images)

    verificator = _verificator(config)
    assert cache(verificator, faces)[0] is False  # made
    used, fresh = cache(verificator, faces)
    assert used is True
    np.testing.assert_allclose(np.load(path)["lightcnn"], fresh, atol=1e-5)
    assert cache(verificator, faces[::-1].copy())[0] is False  # other faces (or another order)
    assert cache(_verificator(config, seed=5), faces[::-1].copy())[0] is False  # another V gives other rows


def test_the_discriminators_receptive_field_comes_from_the_config():
    from ppgan_tf.models import receptive_field

    for blocks, field in ((2, 34), (3, 70)):
        discriminator = ppgan.build_discriminator(tiny_config(channels=3, discriminator_blocks=blocks))
        weights = ppgan.face_patch_weights(discriminator, 128)
        assert receptive_field(discriminator.conv_layers) == field
        assert 0 < float(tf.reduce_sum(weights)) < weights.shape[1] * weights.shape[2]


def test_a_projected_d_trains_its_heads_only_and_needs_the_whole_image(tmp_path):
    config = tiny_config(channels=3, discriminator_backbone="sface")
    trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path))
    assert isinstance(trainer.discriminator, ppgan.ProjectedDiscriminator)
    before = _weights(trainer.discriminator), _weights(trainer.generator)
    terms = trainer.train_step(_batch(config, _faces().repeat(3, axis=-1)))
    for name, weights, model in zip("DG", before, (trainer.discriminator, trainer.generator)):
        assert any(np.abs(x - y).max() > 0 for x, y in zip(weights, _weights(model))), f"{name} did not change"
    assert np.isfinite(float(terms["adversarial"])) and 0.0 <= float(terms["discriminator_accuracy"]) <= 1.0
    with pytest.raises(ValueError, match="adversarial_region"):
        config.replace(adversarial_region="face")


def test_face_region_weights_cover_the_face_patches_only():
    weights = ppgan.face_patch_weights(ppgan.build_discriminator(tiny_config(channels=3)), 128).numpy()[0, :, :, 0]
    assert weights.shape == (30, 30) and set(np.unique(weights)) == {0.0, 1.0}
    rows, columns = np.nonzero(weights.any(axis=1))[0], np.nonzero(weights.any(axis=0))[0]
    assert 0 < rows.min() and rows.max() < 29 and 0 < columns.min() and columns.max() < 29
    assert weights.sum() == len(rows) * len(columns)  # one rectangle
    assert np.array_equal(weights, weights[:, ::-1])  # as symmetric as the face


def test_a_resumed_run_trains_at_its_configs_learning_rates(tmp_path):
    config = tiny_config()
    verificator = _verificator(config)
    strategy = tf.distribute.get_strategy()
    trainer = ppgan.PPGANTrainer(config, verificator, strategy, str(tmp_path))
    trainer.train_step(_batch(config, _faces()))
    trainer.save_checkpoint()
    # The checkpoint holds the old rates; the resumed run takes the new ones (D's own, here).
    resumed = ppgan.PPGANTrainer(config.replace(learning_rate=1e-3, discriminator_learning_rate=4e-3), verificator,
                                 strategy, str(tmp_path))
    assert resumed.restore_latest() == 1
    np.testing.assert_allclose(float(resumed.generator_optimizer.learning_rate), 1e-3, rtol=1e-6)
    np.testing.assert_allclose(float(resumed.discriminator_optimizer.learning_rate), 4e-3, rtol=1e-6)
    plain = ppgan.PPGANTrainer(config, verificator, strategy, str(tmp_path / "plain"))
    assert float(plain.discriminator_optimizer.learning_rate) == float(plain.generator_optimizer.learning_rate)


def test_extra_discriminator_steps_update_d_only(tmp_path):
    config = tiny_config(setting="ppgan")
    faces, verificator = _faces(), _verificator(config)
    one, three = (_one_step(config.replace(discriminator_steps=steps), faces, verificator, tmp_path / str(steps))[0]
                  for steps in (1, 3))
    # G's first update is the same; D took two more.
    for x, y in zip(_weights(one.generator), _weights(three.generator)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert int(three.discriminator_optimizer.iterations.numpy()) == 3 == 3 * int(one.discriminator_optimizer.iterations.numpy())
    assert int(three.generator_optimizer.iterations.numpy()) == 1
    assert any(not np.allclose(x, y) for x, y in zip(_weights(one.discriminator), _weights(three.discriminator)))


def test_r1_adds_to_d_loss_only(tmp_path):
    config = tiny_config(setting="ppgan")
    faces, verificator = _faces(), _verificator(config)
    terms = {weight: _one_step(config.replace(r1_weight=weight, discriminator_steps=2), faces, verificator,
                               tmp_path / str(weight))[1] for weight in (0.0, 10.0)}
    assert terms[0.0]["r1"] == 0.0 and terms[10.0]["r1"] > 0.0
    np.testing.assert_allclose(terms[10.0]["discriminator"], terms[0.0]["discriminator"] + terms[10.0]["r1"], rtol=1e-4)
    for key in ("adversarial", "verif", "sim"):
        np.testing.assert_allclose(terms[10.0][key], terms[0.0][key], rtol=1e-5)


def test_a_face_region_changes_only_the_adversarial_terms(tmp_path):
    config = tiny_config(setting="ppgan")
    faces, verificator = _faces(), _verificator(config)
    terms = {region: _one_step(config.replace(adversarial_region=region), faces, verificator, tmp_path / region)[1]
             for region in ("image", "face")}
    for key in ("adversarial", "discriminator"):
        assert terms["face"][key] != terms["image"][key]
    for key in ("verif", "sim"):
        np.testing.assert_allclose(terms["face"][key], terms["image"][key], rtol=1e-5)


class _Projection:
    """A stand-in pretrained recogniser: a fixed random projection of the face, unit-normalised."""

    trainable = False
    threshold = 1.0

    def __init__(self, size, dim=8, seed=3):
        self.matrix = tf.constant(np.random.default_rng(seed).normal(size=(size * size, dim)), tf.float32)

    def __call__(self, images, training=False):
        flat = tf.reshape(tf.cast(images[..., :1], tf.float32), [tf.shape(images)[0], -1])
        return tf.math.l2_normalize(flat @ self.matrix, axis=-1)

    def embed(self, images_uint8):
        return self(tf.cast(images_uint8, tf.float32) / 127.5 - 1.0).numpy()


def test_an_ensemble_averages_the_verificators_losses(tmp_path):
    config = tiny_config()
    faces = _faces()
    verificator, stand_in = _verificator(config), _Projection(config.image_size)
    losses_alone = [_one_step(config, faces, verificators, tmp_path / "+".join(verificators))[1]["verif"]
                    for verificators in ({"lightcnn": verificator}, {"other": stand_in},
                                         {"lightcnn": verificator, "other": stand_in})]
    # The same seed builds the same G, so the first step's G(x) is the same in all three.
    np.testing.assert_allclose(losses_alone[2], (losses_alone[0] + losses_alone[1]) / 2, rtol=1e-4)


def test_lambda_verif_is_zero_in_the_warm_up_then_ramps(tmp_path):
    config = tiny_config(verif_warmup_steps=2, verif_ramp_steps=4, lambda_verif=2.0)
    trainer = ppgan.PPGANTrainer(config, _verificator(config), tf.distribute.get_strategy(), str(tmp_path))
    batch = _batch(config, _faces())
    seen = [float(trainer.train_step(batch)["lambda_verif"]) for _ in range(7)]
    np.testing.assert_allclose(seen, [0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.0], atol=1e-6)
