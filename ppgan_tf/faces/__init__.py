"""Faces in real photos: detection (MTCNN, YuNet), 5-point alignment and its inverse, recognition without TF."""
