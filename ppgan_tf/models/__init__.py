"""The PP-GAN networks: generator, discriminator and verificator."""

from ppgan_tf.models.discriminator import PatchDiscriminator, ProjectedDiscriminator, patch_centres, receptive_field
from ppgan_tf.models.generator import NoiseDropout, UNetGenerator
from ppgan_tf.models.verificator import LightCNN9, MaxFeatureMap

__all__ = [
    "LightCNN9",
    "MaxFeatureMap",
    "NoiseDropout",
    "PatchDiscriminator",
    "ProjectedDiscriminator",
    "UNetGenerator",
    "patch_centres",
    "receptive_field",
]
