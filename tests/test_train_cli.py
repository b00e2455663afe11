"""The trainers as a user runs them: a whole tiny run, and resuming after a kill."""

import json
import os
import signal
import subprocess
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, cli_command, run_cli, write_dataset
from ppgan_tf import models  # noqa: F401  (registers the classes generator.keras needs)

def _generator_weights(workdir):
    return [w.numpy() for w in keras.saving.load_model(os.path.join(workdir, "generator.keras")).weights]


@pytest.mark.slow
def test_a_whole_run_leaves_everything_in_its_workdir(tmp_path):
    data = write_dataset(str(tmp_path / "faces"), people=6, per_person=5)
    with open(os.path.join(os.path.dirname(data), "images/p0/0.png"), "wb") as f:
        f.write(b"\xff\xd8 broken")
    workdir = str(tmp_path / "run")
    output = run_cli(cli_command("trainers.train_ppgan", workdir, data, "--steps=4", "--sample_every=2",
                                 "--monitor_faces=4"))
    for name in ("config.json", "split.json", "verificator/verificator.keras",
                 "verificator/verificator.json", "generator.keras", "metrics.json",
                 "samples/step_0000002.png", "samples/step_0000004.png"):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert os.listdir(os.path.join(workdir, "logs"))
    assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith("ckpt-4")
    with open(os.path.join(workdir, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["steps"] == 4
    assert 0.0 <= metrics["deid_rate_own_verificator"] <= 1.0 and -1.0 <= metrics["ssim"] <= 1.0
    # The headline names what the rate is measured against; dlib ([test] installs it) judges independently.
    assert "deid_rate" not in metrics and 0.0 <= metrics["deid_rate_dlib"] <= 1.0
    assert metrics["trained_against"] == []
    assert "against the run's own verificator (what G trained against: not a privacy measure)" in output
    assert "against dlib, an independent judge" in output
    assert 0.0 <= metrics["verificator_test_accuracy"] <= 1.0
    assert metrics["images_per_second"] > 0
    assert metrics["skipped_files"] == {"images/p0/0.png": "not a decodable image (corrupt, truncated or unsupported format)"}
    assert "skipped 1 files" in output and workdir in output
    # Held-out faces judged with every sample grid: what a long run is watched by.
    with open(os.path.join(workdir, "monitor.jsonl")) as f:
        monitored = [json.loads(line) for line in f]
    assert [line["step"] for line in monitored] == [2, 4]
    for line in monitored:
        assert {"ssim", "deid_rate_own_verificator", "deid_rate_dlib", "detection_rate_padded"} <= set(line)
        assert 0.0 <= line["detection_rate"] <= 1.0 and 0.0 <= line["detection_rate_padded"] <= 1.0
    assert "monitor.jsonl" in output
    # Rerunning a finished run trains nothing more.
    again = run_cli(cli_command("trainers.train_ppgan", workdir, data, "--steps=4"))
    assert "nothing to train" in again


@pytest.mark.slow
def test_resume_after_a_kill_continues_at_the_right_step_with_identical_weights(tmp_path):
    data = write_dataset(str(tmp_path / "faces"))
    killed = str(tmp_path / "killed")
    run_cli(cli_command("trainers.train_verificator", killed, data))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen(
        cli_command("trainers.train_ppgan", killed, data, "--steps=100000", "--checkpoint_every=3",
                 "--sample_every=100000"),
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    checkpoints = os.path.join(killed, "checkpoints")
    deadline = time.time() + 300
    while tf.train.latest_checkpoint(checkpoints) is None and time.time() < deadline:
        assert process.poll() is None, "training ended before its first checkpoint"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    reached = int(tf.train.latest_checkpoint(checkpoints).rsplit("-", 1)[1])
    assert reached > 0 and reached % 3 == 0
    final = reached + 3

    output = run_cli(cli_command("trainers.train_ppgan", killed, data, f"--steps={final}"))
    assert f"resuming from step {reached}" in output
    reference = str(tmp_path / "reference")
    run_cli(cli_command("trainers.train_ppgan", reference, data, f"--steps={final}",
                  f"--verificator_dir={os.path.join(killed, 'verificator')}"))
    for name in ("metrics.json",):
        with open(os.path.join(killed, name)) as f:
            assert json.load(f)["steps"] == final
    for a, b in zip(_generator_weights(killed), _generator_weights(reference)):
        np.testing.assert_array_equal(a, b)
