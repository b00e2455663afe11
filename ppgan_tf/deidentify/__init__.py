"""De-identifying faces in photos, folders, videos and webcams (`ppgan-deidentify`)."""

from ppgan_tf.deidentify.deidentifier import Deidentifier, FaceReport

__all__ = ["Deidentifier", "FaceReport"]
