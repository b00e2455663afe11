import dataclasses

import pytest
from absl import flags

from ppgan_tf import config as run_config


def test_presets_are_valid_and_differ():
    default, paper = run_config.get_config("default"), run_config.get_config("paper")
    assert default.data == "builtin:orl"
    assert paper.learning_rate == 1e-5 and paper.verificator_width == 1.0
    assert paper.discriminator_base_filters == 64 and paper.generator_upsampling == "transpose"
    with pytest.raises(ValueError, match="Unknown preset"):
        run_config.get_config("huge")


def test_save_and_load_round_trip(tmp_path):
    config = run_config.get_config("paper").replace(steps=7, setting="cgan_sim")
    config.save(str(tmp_path))
    assert run_config.RunConfig.load(str(tmp_path)) == config


@pytest.mark.parametrize(
    "change, message",
    [({"setting": "gan"}, "setting"), ({"channels": 2}, "channels"), ({"batch_size": 0}, "batch_size"),
     ({"verificator_batch_size": 7}, "even"), ({"precision": "int8"}, "precision"),
     ({"lambda_destination": 1.0}, "destination_group"), ({"destination_group": "race"}, "lambda_destination"),
     ({"destination_margin": -1.0}, "destination_margin"), ({"destination_candidates": 0}, "destination_candidates"),
     ({"destination_group": "race", "lambda_destination": 1.0, "destination_confidence": "gender:0.9"}, "not in"),
     ({"setting": "cgan_sim", "lambda_destination": 1.0, "destination_group": "race"}, "identity term")],
)
def test_invalid_values_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        run_config.get_config().replace(**change)


def test_data_repeats_name_sources_and_whole_visits():
    config = run_config.get_config().replace(data_repeats="utkface:3+celeba:2")
    assert config.source_repeats() == {"utkface": 3, "celeba": 2}
    assert run_config.get_config().source_repeats() == {}
    for bad in ("utkface", "utkface:0", "utkface:1.5", ":2", "a:2+a:3"):
        with pytest.raises(ValueError, match="data_repeats"):
            run_config.get_config().replace(data_repeats=bad)


def test_destination_confidence_names_attributes_and_probabilities():
    config = run_config.get_config().replace(destination_group="gender+race", lambda_destination=1.0,
                                             destination_confidence="gender:0.9+race:0.5")
    assert config.destination_confidences() == {"gender": 0.9, "race": 0.5}
    for bad in ("gender", "gender:1", "gender:0", "gender:x", "gender:0.5+gender:0.6"):
        with pytest.raises(ValueError, match="destination_confidence"):
            config.replace(destination_confidence=bad)


def _flag_values(argv):
    values = flags.FlagValues()
    run_config.define_flags(values)
    values(["prog", *argv])
    return values


def test_flags_override_the_preset(tmp_path):
    values = _flag_values(["--preset=paper", "--steps=12", "--flip=false", "--lambda_sim=0.5"])
    config = run_config.config_from_flags(values, str(tmp_path / "new"))
    assert (config.steps, config.flip, config.lambda_sim, config.learning_rate) == (12, False, 0.5, 1e-5)


def test_switches_are_set_by_their_name_alone_or_unset_by_no(tmp_path):
    values = _flag_values(["--preset=paper", "--verif_grey", "--steps=7", "--noflip"])
    config = run_config.config_from_flags(values, str(tmp_path / "new"))
    assert (config.verif_grey, config.steps, config.flip) == (True, 7, False)


def test_a_saved_run_resumes_with_its_own_config(tmp_path):
    saved = run_config.get_config().replace(batch_size=3, seed=5)
    saved.save(str(tmp_path))
    config = run_config.config_from_flags(_flag_values(["--steps=99"]), str(tmp_path))
    assert dataclasses.replace(config, steps=saved.steps) == saved and config.steps == 99


def test_bad_flag_values_are_named():
    with pytest.raises(ValueError, match="steps='many'"):
        run_config.config_from_flags(_flag_values(["--steps=many"]), "/nonexistent")
