"""ppgan-tf: Privacy-Protective-GAN face de-identification in TensorFlow/Keras."""

try:
    import tensorflow  # noqa: F401
except ImportError as error:
    raise ImportError(
        "ppgan-tf needs TensorFlow 2.21: pip install 'ppgan-tf[cpu]' (CPU) or 'ppgan-tf[gpu]' (CUDA)"
    ) from error

__version__ = "0.1.0"
