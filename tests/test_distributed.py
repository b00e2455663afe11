"""tf.distribute training gives the update of one device (fresh processes)."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distributed_worker.py")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _launch(strategy, out, env_extra=None):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", **(env_extra or {}))
    return subprocess.Popen(
        [sys.executable, WORKER, f"--strategy={strategy}", f"--out={out}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _finish(process, timeout=300):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]


def _load(path):
    data = np.load(path)
    weights = [data[f"w{i}"] for i in range(len(data.files) - 2)]
    return int(data["replicas"]), data["losses"], weights


def _assert_same_update(reference, other):
    _, ref_losses, ref_weights = reference
    _, losses, weights = other
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4, atol=1e-5)
    assert len(weights) == len(ref_weights)
    # Adam moves a weight by up to lr = 2e-4 a step; replicas add gradients in
    # another order, which shifts near-zero gradients' updates by a fraction of
    # that. Unsynchronised replicas would be off by the whole update.
    for a, b in zip(ref_weights, weights):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=5e-5)


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("single") / "w.npz")
    _finish(_launch("default", out))
    return _load(out)


@pytest.mark.slow
def test_mirrored_two_replicas_match_one_device(single_device, tmp_path):
    out = str(tmp_path / "mirrored.npz")
    _finish(_launch("mirrored", out))
    mirrored = _load(out)
    assert mirrored[0] == 2
    _assert_same_update(single_device, mirrored)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_two_processes_agree_with_one_device(single_device, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    outs = [str(tmp_path / f"worker{i}.npz") for i in range(2)]
    processes = [
        _launch("multi_worker", outs[i],
                {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
        for i in range(2)
    ]
    for process in processes:
        _finish(process)
    workers = [_load(out) for out in outs]
    assert workers[0][0] == workers[1][0] == 2
    _assert_same_update(workers[0], workers[1])
    _assert_same_update(single_device, workers[0])
