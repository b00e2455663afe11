"""Precision, distribution strategy and optimisers: how a run uses its hardware."""

import json
import os

import keras
import tensorflow as tf


# CPU flags (Linux /proc/cpuinfo) of bfloat16 arithmetic: x86 AVX-512 BF16 or AMX, Arm's BF16 extension.
BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def cpu_has_bfloat16(cpuinfo_path="/proc/cpuinfo"):
    """Whether the CPU computes in bfloat16 natively; without it bfloat16 is emulated, slower than float32."""
    try:
        with open(cpuinfo_path) as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return bool(BFLOAT16_CPU_FLAGS & set(value.split()))
    except OSError:
        pass
    return False


def set_precision(name):
    """Sets the global Keras dtype policy and returns the policy name in force.

    'auto' picks mixed float16 on a GPU, mixed bfloat16 on a CPU that computes
    in bfloat16 (`cpu_has_bfloat16`), else float32.
    """
    if name == "auto":
        if tf.config.list_physical_devices("GPU"):
            name = "mixed_float16"
        else:
            name = "mixed_bfloat16" if cpu_has_bfloat16() else "float32"
    keras.mixed_precision.set_dtype_policy(name)
    return name


def make_strategy(name):
    """The `tf.distribute` strategy for 'default', 'mirrored' or 'multi_worker'.

    'multi_worker' reads the cluster from the TF_CONFIG environment variable.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy=multi_worker needs TF_CONFIG describing the cluster")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown strategy {name!r}: default, mirrored or multi_worker")


def worker_index():
    """(task type, index) of this process in TF_CONFIG, or ('chief', 0) without one."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return task.get("type", "chief"), int(task.get("index", 0))


def is_chief():
    """Whether this process writes the run's files (the chief, or worker 0 without one)."""
    task_type, index = worker_index()
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if "chief" in cluster:
        return task_type == "chief"
    return task_type in ("chief", "worker") and index == 0


def make_optimizer(learning_rate, beta_1=0.9, precision="float32"):
    """Adam, wrapped in a `LossScaleOptimizer` when float16 gradients could underflow."""
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
