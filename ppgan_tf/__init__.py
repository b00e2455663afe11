"""ppgan-tf: Privacy-Protective-GAN face de-identification in TensorFlow/Keras."""

import importlib.util

# Looked up, not imported: de-identifying with the shipped model never loads TensorFlow (seconds of start-up).
if importlib.util.find_spec("tensorflow") is None:
    raise ImportError("ppgan-tf needs TensorFlow 2.21: pip install 'ppgan-tf[cpu]' (CPU) or 'ppgan-tf[gpu]' (CUDA)")

__version__ = "0.1.0"
