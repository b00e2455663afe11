"""Faces in real photos: detection (MTCNN), 5-point alignment and its inverse."""
